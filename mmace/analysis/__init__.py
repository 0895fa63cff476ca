"""Importable analysis code behind ``tools/analysis_tools``."""
