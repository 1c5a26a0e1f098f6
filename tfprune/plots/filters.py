"""Figures for the filters flow."""
__all__ = []
