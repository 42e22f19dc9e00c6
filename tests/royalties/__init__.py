"""Tests of the nickel royalty base price (PBLRN) module."""
