//! What the operator sees: `GET /healthz` ([`health`]) and the request id
//! that ties a response to its log line ([`request_id`]).

pub mod health;
pub mod request_id;
