"""The IMAP server: sessions on the listener framework, over the sans-IO core in
:mod:`mailward.protocols.imap` and the store."""
