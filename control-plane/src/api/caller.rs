//! Who is calling the JSON API and what they may do: a bearer token (as for the
//! gateway) or the dashboard's cookie, the CSRF header a cookie-signed change must carry,
//! and the roles (auditor, admin) that groups give.

use super::error::ApiError;
use crate::gateway::Gateway;
use crate::identity::auth::Principal;
use http::HeaderMap;

/// The signed-in caller: a bearer token (as for the gateway), else the dashboard cookie.
pub(crate) async fn signed_in(gw: &Gateway, headers: &HeaderMap) -> Result<Principal, ApiError> {
    Ok(caller(gw, headers).await?.0)
}

/// The caller and whether they came with the cookie (which makes CSRF a concern).
async fn caller(gw: &Gateway, headers: &HeaderMap) -> Result<(Principal, bool), ApiError> {
    gw.identity
        .hosts
        .check(headers)
        .map_err(ApiError::forbidden)?;
    if crate::identity::auth::bearer(headers).is_some() {
        return gw
            .authenticate_api(headers)
            .await
            .map(|p| (p, false))
            .map_err(|_| {
                ApiError::unauthorized("the bearer token is not valid here (expired, revoked, or for another audience: \
                     the management API takes tokens of `gatehouse login` or the tray, not of MCP clients)")
            });
    }
    match gw.identity.cookie_principal(headers).await {
        Some(p) => Ok((p, true)),
        None => Err(ApiError::unauthorized(
            "sign-in required: sign in to the dashboard, or send `Authorization: Bearer <token>`",
        )),
    }
}

/// The signed-in caller of a request that changes something: with the cookie, only
/// when the request carries the CSRF header.
pub(crate) async fn signed_in_to_change(
    gw: &Gateway,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let (p, by_cookie) = caller(gw, headers).await?;
    if by_cookie && headers.get(crate::identity::signin::CSRF_HEADER).is_none() {
        return Err(ApiError::forbidden(
            "changes made with the dashboard's cookie must send the `X-Gatehouse-Request: 1` header",
        ));
    }
    Ok(p)
}

/// A dashboard role a caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Reads everything.
    Auditor,
    /// Changes policies, servers, agents.
    Admin,
}

impl Gateway {
    fn is_admin(&self, p: &Principal) -> bool {
        p.groups
            .iter()
            .any(|g| self.config.admin_groups.contains(g))
    }

    fn is_auditor(&self, p: &Principal) -> bool {
        p.groups
            .iter()
            .any(|g| self.config.roles.auditor_groups.contains(g))
    }

    /// Refuses with 403 unless the caller has `role` (admins may read what auditors may).
    pub(crate) fn require(&self, p: &Principal, role: Role) -> Result<(), ApiError> {
        let (ok, groups) = match role {
            Role::Auditor => (
                self.is_auditor(p) || self.is_admin(p),
                [
                    &self.config.roles.auditor_groups[..],
                    &self.config.admin_groups[..],
                ]
                .concat(),
            ),
            Role::Admin => (self.is_admin(p), self.config.admin_groups.clone()),
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "`{}` may not do this: it needs membership of {}",
                p.user,
                groups.join(" or ")
            )))
        }
    }

    /// Auditors and admins see every approval; approvers those they may decide; everyone
    /// their own requests.
    pub(crate) fn may_see_approval(&self, p: &Principal, a: &crate::approvals::Approval) -> bool {
        self.reads_everything(p)
            || a.requester == p.user
            || p.groups.iter().any(|g| a.approvers.contains(g))
            || a.approvers.contains(&p.user)
    }

    /// True when the caller may read everyone's records (auditors and admins).
    pub(crate) fn reads_everything(&self, p: &Principal) -> bool {
        self.is_auditor(p) || self.is_admin(p)
    }
}
