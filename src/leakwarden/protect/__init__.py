"""De-identification: masking, keyed pseudonyms, format-preserving encryption, the token vault,
generalisation, the key ring, and the streaming rewrite of files and tables."""
