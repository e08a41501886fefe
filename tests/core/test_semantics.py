"""Semantic similarity: WordNet LCH, GloVe, word2vec files, MiniLM sentence embeddings."""

import math
import struct

import numpy as np
import pytest

from core import semantics
from core.semantics import WordNet, load_word_vectors, semantic_similarity

# A tiny WordNet: entity <- animal <- {dog, cat}; entity <- artifact <- car.
_DATA = """  1 This software and database is being provided to you, the LICENSEE
00000001 03 n 01 entity 0 000 | that which exists
00000002 05 n 01 animal 0 001 @ 00000001 n 0000 | a living organism
00000003 05 n 01 dog 0 001 @ 00000002 n 0000 | a canine
00000004 05 n 01 cat 0 001 @ 00000002 n 0000 | a feline
00000005 06 n 02 car 0 auto 0 001 @ 00000006 n 0000 | a motor vehicle
00000006 06 n 01 artifact 0 001 @ 00000001 n 0000 | a man-made object
"""
_INDEX = """  1 This software and database is being provided to you, the LICENSEE
animal n 1 1 @ 1 0 00000002
artifact n 1 1 @ 1 0 00000006
auto n 1 1 @ 1 0 00000005
car n 1 1 @ 1 0 00000005
cat n 1 1 @ 1 0 00000004
dog n 1 1 @ 1 0 00000003
entity n 1 0 1 0 00000001
"""


@pytest.fixture
def tiny_wordnet(tmp_path):
    (tmp_path / "data.noun").write_text(_DATA)
    (tmp_path / "index.noun").write_text(_INDEX)
    return WordNet(tmp_path)


def test_wordnet_path_distance_and_lch_known_answers(tiny_wordnet):
    dog, cat, car = (tiny_wordnet.synset(w) for w in ("dog", "cat", "car"))
    assert tiny_wordnet.path_distance(dog, cat) == 2
    assert tiny_wordnet.path_distance(dog, car) == 4
    assert tiny_wordnet.lch(dog, cat) == pytest.approx(-math.log(3 / 38))
    assert tiny_wordnet.lch(dog, dog) == pytest.approx(-math.log(1 / 38))
    assert tiny_wordnet.synset("auto") == car


def test_wordnet_labels_use_compounds_head_nouns_and_sense_names(tiny_wordnet):
    assert tiny_wordnet.label_synset("Sports Car") == tiny_wordnet.synset("car")
    assert tiny_wordnet.label_synset("dog.n.01") == tiny_wordnet.synset("dog")
    assert tiny_wordnet.label_synset("dog.n.07") is None
    assert tiny_wordnet.label_synset("xqzzy") is None


def test_missing_wordnet_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="index.noun"):
        WordNet(tmp_path)


@pytest.mark.skipif(not (semantics.DEBIAN_WORDNET / "data.noun").exists(), reason="wordnet-base absent")
def test_lch_dog_cat_on_wordnet_3_0_is_2_028():
    result = semantic_similarity(["dog.n.01", "cat.n.01", "xqzzy"], method="wordnet_lch")
    assert result.matrix[0, 1] == pytest.approx(2.028, abs=1e-3)
    assert result.unknown == {"xqzzy": ("xqzzy",)}
    assert np.isnan(result.matrix[2]).all()


def test_word2vec_text_and_binary_files_give_the_same_similarities(tmp_path):
    words = {"cat": [1.0, 0.0, 0.0], "dog": [0.8, 0.6, 0.0], "car": [0.0, 0.0, 1.0]}
    text = tmp_path / "vectors.vec"
    text.write_text("3 3\n" + "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in words.items()))
    binary = tmp_path / "vectors.bin"
    with open(binary, "wb") as handle:
        handle.write(b"3 3\n")
        for w, v in words.items():
            handle.write(w.encode() + b" " + struct.pack("<3f", *v) + b"\n")
    for path in (text, binary):
        result = semantic_similarity(["cat", "dog", "hot dog", "car"], method="word2vec", vectors_path=path)
        assert result.matrix[0, 1] == pytest.approx(0.8)
        assert result.matrix[0, 3] == pytest.approx(0.0)
        np.testing.assert_allclose(result.matrix[1, 2], 1.0)  # "hot dog": known word "dog" only
        assert result.unknown == {"hot dog": ("hot",)}


def test_word2vec_needs_a_file_and_rejects_garbage(tmp_path):
    with pytest.raises(ValueError, match="vectors_path"):
        semantic_similarity(["a", "b"], method="word2vec")
    bad = tmp_path / "bad.txt"
    bad.write_text("cat 0.1 zero\n")
    with pytest.raises(ValueError, match="bad.txt"):
        load_word_vectors(bad)


def test_unknown_method_and_too_few_labels_are_clear_errors():
    with pytest.raises(ValueError, match="choose from"):
        semantic_similarity(["a", "b"], method="lsa")
    with pytest.raises(ValueError, match="at least 2"):
        semantic_similarity(["a"])


@pytest.mark.slow
def test_glove_cat_dog_cosine_is_0_922():
    result = semantic_similarity(["cat", "dog", "car"], method="glove")
    assert result.matrix[0, 1] == pytest.approx(0.922, abs=1e-3)
    assert result.matrix[0, 1] > result.matrix[0, 2]


@pytest.mark.slow
def test_minilm_embeddings_rank_related_labels_higher():
    result = semantic_similarity(["cat", "dog", "car", "truck"], method="minilm")
    np.testing.assert_allclose(np.diag(result.matrix), 1.0, atol=1e-5)
    assert result.matrix[0, 1] > result.matrix[0, 2]
    assert result.matrix[2, 3] > result.matrix[1, 3]
    assert result.matrix[0, 1] < 0.9  # no padding artefact: unrelated words are not all > 0.9


def test_semantic_cortical_test_correlates_known_pairs_and_permutes_categories(rng):
    from core.rsa import rdm_permutation_test
    from core.semantics import semantic_cortical_test

    vectors = rng.normal(size=(8, 5))
    semantic = np.corrcoef(vectors)
    cortical = np.corrcoef(vectors + 0.3 * rng.normal(size=vectors.shape))
    semantic[2, :] = semantic[:, 2] = np.nan  # a label without vectors
    result = semantic_cortical_test(semantic, cortical, n_permutations=199, random_state=0)
    keep = [0, 1, 3, 4, 5, 6, 7]
    iu = np.triu_indices(7, 1)
    np.testing.assert_array_equal(result.categories, keep)
    np.testing.assert_allclose(result.semantic, semantic[np.ix_(keep, keep)][iu])
    assert result.r == pytest.approx(np.corrcoef(result.semantic, cortical[np.ix_(keep, keep)][iu])[0, 1])
    assert result.p_value == rdm_permutation_test(1 - result.cortical, -result.semantic, n_permutations=199,
                                                  random_state=0).p_value
    assert result.p_value < 0.05 and result.r > 0.5
    with pytest.raises(ValueError, match="fewer than 3 categories"):
        semantic_cortical_test(np.full((4, 4), np.nan), cortical[:4, :4])
