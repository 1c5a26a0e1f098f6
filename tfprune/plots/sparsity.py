"""Figures for the sparsity flow."""
__all__ = []
