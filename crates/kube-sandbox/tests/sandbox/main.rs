//! kube-sandbox's tests, one binary: the sandbox through kube-rs in-process
//! (`client`, `schema`), judged by the real kubectl (`kubectl`), and measured against
//! the real control plane (`differential`).

mod client;
mod differential;
mod kubectl;
mod protobuf;
mod schema;
mod served;
