"""Recognising personal information in text: type definitions, validators, the one-pass engine."""
