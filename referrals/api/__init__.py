"""REST API v1 on the same services as the browser (issue 4)."""
