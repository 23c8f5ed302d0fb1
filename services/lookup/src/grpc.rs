//! `motcua.lookup.v1.LookupService`: public (no token); the boundary limits each client's rate.

use crate::queries::Queries;
use motcua_platform::limiter::PublicClient;
use motcua_proto::lookup::lookup_service_server::LookupService;
use motcua_proto::lookup::*;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct Lookup {
    pub queries: Queries,
}

#[tonic::async_trait]
impl LookupService for Lookup {
    async fn lookup_dossier(
        &self,
        req: Request<LookupDossierRequest>,
    ) -> Result<Response<LookupDossierResponse>, Status> {
        // Put there by the boundary's per-client limit.
        let client = req.extensions().get::<PublicClient>().copied();
        let r = req.get_ref();
        let dossier = self
            .queries
            .dossier(&r.dossier_code, &r.secret, client)
            .await?;
        Ok(Response::new(LookupDossierResponse {
            dossier: Some(dossier),
        }))
    }

    async fn search_procedures(
        &self,
        req: Request<SearchProceduresRequest>,
    ) -> Result<Response<SearchProceduresResponse>, Status> {
        let r = req.get_ref();
        let page = self
            .queries
            .search(&r.query, &r.field, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(SearchProceduresResponse {
            procedures: page.procedures,
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_procedure(
        &self,
        req: Request<GetProcedureRequest>,
    ) -> Result<Response<GetProcedureResponse>, Status> {
        let procedure = self.queries.procedure(&req.get_ref().code).await?;
        Ok(Response::new(GetProcedureResponse {
            competent_agency_name: self.queries.agency_name(&procedure.competent_agency),
            procedure: Some(procedure),
        }))
    }
}
