"""Local fakes of providers' APIs: real HTTP (or SMTP) servers on 127.0.0.1 that check what
the real APIs check and can be told to fail the way the real ones do."""
