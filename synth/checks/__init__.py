"""What an answer must pass: parsing, validation, language/script checks, dedup, decontamination."""
