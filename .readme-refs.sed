# sed -E script for the lead, after merging docs-site: the README's sections moved to docs/,
# so each `README "<section>"` reference in components/ and __main__.py becomes the page (and
# heading) it moved to. Run it on the moved files too, wherever they now live:
#   sed -E -i -f .readme-refs.sed __main__.py components/*.py render/*.py
# then tests/test_docs.py::test_every_reference_to_the_docs_in_the_project_resolves passes.
# Delete this file afterwards.

# One line each.
s/README "Upgrading", "Removing a node"/docs\/operations\/upgrading.md, docs\/operations\/removing-a-node.md/g
s/README "TLS at the edge"/docs\/edge.md/g
s/README "Network policies"/docs\/security.md#network-policies/g
s/README "Where your bits and data go"/docs\/sovereignty.md/g
s/README "Backups and restore"/docs\/operations\/backups.md/g
s/README "Upgrading"/docs\/operations\/upgrading.md/g
s/README "Removing a node"/docs\/operations\/removing-a-node.md/g

# Split over two lines (components/cluster.py's docstring): join, replace, keep the line short.
/ README "Backups and$/{
N
s/ README "Backups and\nrestore"\)/\ndocs\/operations\/backups.md)/
}
/ \(README$/{
N
s/ \(README\n"Upgrading"\)/\n(docs\/operations\/upgrading.md)/
}
