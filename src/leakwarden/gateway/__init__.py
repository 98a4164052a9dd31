"""The access gateway (issue 5): the single path by which people and internal applications reach
customer data.  ``catalog`` says which column holds which data class, ``decision`` holds the
request/decision types, ``policy`` turns a request into a decision with the Cedar policies in
``policies/``; the service, SQL rewriting, quotas and approvals build on those."""
