"""What the service does, one module per endpoint, each of the same shape: a typed input (made by the
request layer, service/api/requests.py, which checks the caller and every option before any decoding)
-> one async function over the process's state -> the response model (service/schemas.py).

embed (POST /embed), match (POST /match), gallery (/gallery), tracks (POST /tracks); `entries` is the
one place an entry is made and stored.
"""
