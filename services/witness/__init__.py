"""The witness a partner agency runs (C2SP tlog-witness, tlog-cosignature/v1): it cosigns a
log's checkpoint only when it extends the last one it cosigned. See README.md."""
