//! Roles as sets: the canonical order (`Role::ALL`) and no repeats, however they were given.

use sallyport_protocol::rest::Role;

/// `roles` sorted in the canonical order, without repeats.
pub fn normalized(mut roles: Vec<Role>) -> Vec<Role> {
    roles.sort();
    roles.dedup();
    roles
}

/// `roles` with `role` added (`on`) or removed, normalized.
pub fn with_role(mut roles: Vec<Role>, role: Role, on: bool) -> Vec<Role> {
    roles.retain(|r| *r != role);
    if on {
        roles.push(role);
    }
    normalized(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_keep_the_canonical_order_once_each() {
        assert_eq!(normalized(vec![Role::Admin, Role::Staff, Role::Admin]), vec![Role::Staff, Role::Admin]);
        assert_eq!(with_role(vec![Role::Admin], Role::PeerSupporter, true), vec![Role::PeerSupporter, Role::Admin]);
        assert_eq!(with_role(vec![Role::PeerSupporter, Role::PeerSupporter], Role::PeerSupporter, false), vec![]);
        assert_eq!(with_role(vec![Role::PeerSupporter], Role::PeerSupporter, true), vec![Role::PeerSupporter]);
    }
}
