"""The node, pure: its step table and the text its steps carry.

    steps.py       the node's steps as one table (how to add one: its docstring)
    table.py       what a table entry is, and how a table becomes the node's steps
    command.py     how a script becomes a remote.Command command string
    firewall.py    each node's nftables ruleset
    registries.py  registries.yaml, the mirror flags, the K3s install source, the air-gap files
    scripts/<step>/*.sh   the scripts the nodes run, one folder per step
    scripts/lib/common.bash  die, report and small shared helpers, put in front of every script

components/node.py registers what steps.py renders; nothing here imports Pulumi.
"""
