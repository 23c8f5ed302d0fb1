//! The host's listeners: the gRPC router behind the boundary and its interceptors, the HTTP side,
//! and serving until shutdown (drain within the grace period, then the background tasks).

use super::*;

impl ServiceHost {
    /// Readiness, authentication for private services and the caller in the request's extensions
    /// (see [`crate::auth::caller`]).
    pub fn interceptor(
        &self,
    ) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone + use<>
    {
        let readiness = self.readiness();
        let verifier = self.verifier.clone();
        move |mut req: tonic::Request<()>| {
            ready_or_unavailable(&readiness)?;
            let header = req
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            let caller: Caller = verifier
                .verify_header(header)
                .map_err(tonic::Status::from)?;
            req.extensions_mut().insert(caller);
            Ok(req)
        }
    }

    /// Readiness only, for public services (their rate limit is at the boundary).
    pub fn public_interceptor(
        &self,
    ) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone + use<>
    {
        let readiness = self.readiness();
        move |req: tonic::Request<()>| {
            ready_or_unavailable(&readiness)?;
            Ok(req)
        }
    }

    /// A gRPC router with the boundary, health, reflection of exactly the services served, the
    /// request timeout and tracing; add the services with the interceptors above.
    pub fn router(&mut self, api: GrpcApi) -> anyhow::Result<GrpcRouter> {
        let names: Vec<&'static str> = api.private.iter().chain(&api.public).copied().collect();
        self.grpc_names = names.clone();
        // Reflection lists exactly what this port serves, not every contract compiled in.
        let mut v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(api.contracts)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection");
        let mut v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(api.contracts)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection");
        for n in &names {
            v1 = v1.with_service_name(*n);
            v1alpha = v1alpha.with_service_name(*n);
        }
        let limits = &self.settings.limits;
        let boundary = BoundaryLayer::new(BoundaryConfig {
            services: names.iter().map(|s| (*s).to_owned()).collect(),
            public: api.public.iter().map(|s| (*s).to_owned()).collect(),
            rules: api.rules,
            contracts: prost_reflect::DescriptorPool::decode(api.contracts)
                .context("the service's contracts (GrpcApi::contracts) do not decode")?,
            max_message_bytes: limits.max_message_bytes,
            max_in_flight: limits.max_in_flight,
            memory_bytes: limits.request_memory_bytes,
            limiter: self.limiter.clone(),
        });
        Ok(Server::builder()
            .timeout(limits.request_timeout)
            .trace_fn(crate::telemetry::grpc_request_span)
            .layer(super::rpc_metrics::RpcMetricsLayer)
            .layer(boundary)
            .add_service(self.health_service.clone())
            .add_service(v1.build_v1()?)
            .add_service(v1alpha.build_v1alpha()?))
    }

    /// Serves the HTTP side on MOTCUA_<SERVICE>_HTTP_ADDR: health, readiness, the service's public
    /// routes (rate limited, with security headers) and its authenticated routes (bearer token).
    pub async fn serve_http(
        &mut self,
        public: axum::Router,
        authenticated: axum::Router,
    ) -> anyhow::Result<SocketAddr> {
        self.serve_http_with(public, authenticated, axum::Router::new())
            .await
    }

    /// [`Self::serve_http`] with routes that check their caller themselves (see
    /// [`crate::http::HttpSide::self_authenticated`]).
    pub async fn serve_http_with(
        &mut self,
        public: axum::Router,
        authenticated: axum::Router,
        self_authenticated: axum::Router,
    ) -> anyhow::Result<SocketAddr> {
        let addr = self.settings.http_addr(&self.service);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {} HTTP address {addr}", self.name))?;
        let bound = listener.local_addr()?;
        let app = crate::http::router(crate::http::HttpSide {
            service: self.name,
            readiness: self.readiness.clone(),
            limiter: self.limiter.clone(),
            verifier: self.verifier.clone(),
            max_in_flight: self.settings.limits.max_in_flight,
            public,
            authenticated,
            self_authenticated,
            refusal_page: self.refusal_page,
        });
        let stop = self.shutdown.clone();
        let name = self.name;
        let fault = self.fault.clone();
        self.tasks.push(tokio::spawn(async move {
            let served = axum::serve(
                crate::accept::http(listener),
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .await;
            // A service without its HTTP side is not half up: the process stops and says why.
            match served {
                Err(e) => fault.raise(name, format!("HTTP server failed: {e}"), &stop),
                Ok(()) if !stop.is_cancelled() => {
                    fault.raise(name, "HTTP server stopped".into(), &stop)
                }
                Ok(()) => {}
            }
        }));
        self.http_addr = Some(bound);
        Ok(bound)
    }

    /// How the service's pages show the HTTP side's 429 and 503 (call before serving HTTP).
    pub fn set_refusal_page(&mut self, page: crate::http::RefusalPage) {
        self.refusal_page = Some(page);
    }

    /// Binds the service's gRPC address (port 0 picks a free one).
    pub async fn bind(&self) -> anyhow::Result<TcpListener> {
        let addr = self.settings.grpc_addr(&self.service);
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {} gRPC address {addr}", self.name))
    }

    /// Serves until shutdown: stops accepting, lets in-flight calls finish within the grace
    /// period, then flushes the outbox relay and stops the background tasks.
    pub fn serve(self, router: GrpcRouter, listener: TcpListener) -> Running {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let grace = self.settings.shutdown_grace;
        let name = self.name;
        let http_addr = self.http_addr;
        let task = tokio::spawn(async move {
            let incoming = crate::accept::grpc(listener);
            let shutdown = self.shutdown.clone();
            let serve =
                router.serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
            let deadline = async {
                shutdown.cancelled().await;
                tokio::time::sleep(grace).await;
            };
            tokio::select! {
                served = serve => match served {
                    Err(e) => self.fault.raise(name, format!("gRPC server failed: {e}"), &shutdown),
                    Ok(()) if !shutdown.is_cancelled() => {
                        self.fault.raise(name, "gRPC server stopped".into(), &shutdown)
                    }
                    Ok(()) => {}
                },
                _ = deadline => tracing::warn!(service = name, "grace period over; dropping remaining calls"),
            }
            self.background.cancel();
            let wait_all = futures::future::join_all(self.tasks);
            if tokio::time::timeout(grace, wait_all).await.is_err() {
                tracing::warn!(
                    service = name,
                    "background tasks did not stop within the grace period"
                );
            }
            tracing::info!(service = name, "stopped");
            self.fault.reason().map_or(Ok(()), Err)
        });
        Running {
            addr,
            http_addr,
            task,
        }
    }
}

fn ready_or_unavailable(readiness: &Readiness) -> Result<(), tonic::Status> {
    if readiness.is_ready() {
        Ok(())
    } else {
        Err(tonic::Status::unavailable(
            "dịch vụ đang khởi động hoặc mất kết nối cơ sở dữ liệu / NATS (service not ready: PostgreSQL or NATS not answering)",
        ))
    }
}
