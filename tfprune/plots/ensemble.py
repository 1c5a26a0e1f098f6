"""Figures for the ensemble flow."""
__all__ = []
