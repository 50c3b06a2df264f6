//! JSON batching (`POST /v1.0/$batch`).
