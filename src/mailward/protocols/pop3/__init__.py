"""POP3 (RFC 1939 with 2449, 2595, 3206, 5034, 6856): the sans-IO server core."""
