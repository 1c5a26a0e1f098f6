"""Figures for the moth flow."""
__all__ = []
