"""Ranking metrics and the pictures that go with them."""
