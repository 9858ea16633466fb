"""`agentaudit report`: the SOC 2 evidence pack.

gather (queries, one plain JSON-able document per criterion) → render
(self-contained HTML with inline SVG charts; PDF from that HTML through
headless Chromium) → pack (a directory whose manifest lists every file's
SHA-256 and is signed by the pipeline keyring, checked offline by
`agentaudit verify --bundle DIR`). Presentation never queries, and the
queries never format anything for people.
"""
