"""Tracing a leaked sample (issue 6): which customers it holds, which registered export copy it
most likely came from.  ``normalize`` reads the sample, ``match`` finds the customers,
``attribute`` ranks the export copies, ``report`` and ``command`` present the result."""
