//! The HTTP front end's state: the service core, plus what only HTTP has (the metrics handle).

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::service::Core;

#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub metrics: Option<PrometheusHandle>,
}

impl std::ops::Deref for AppState {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl AppState {
    pub fn new(core: Arc<Core>, metrics: Option<PrometheusHandle>) -> AppState {
        AppState { core, metrics }
    }
}
