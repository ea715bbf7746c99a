"""The dataset on disk: the row schema, row parts, the written dataset dir, shard files."""
