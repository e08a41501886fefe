"""Dash pages, one file per page (imported by Dash itself)."""
