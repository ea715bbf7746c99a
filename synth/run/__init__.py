"""The run loop: calls, the journal and ledger, the fold of answers into rows, pools, shards, stats."""
