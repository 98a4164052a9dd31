"""Person names and postal addresses in free text, Chinese (CRF) and Latin (gazetteer + rules).

``NameAddressTagger.load().tag(text)`` returns ``Finding`` objects of types ``person_name`` and
``address``.  The model is package data built by ``python -m leakwarden.detect.ner.train``.
"""

from leakwarden.detect.ner.tagger import NameAddressTagger

__all__ = ["NameAddressTagger"]
