//! The acceptance rules walked cell by cell: every channel × caller role × service level × postal
//! acceptance, and every result delivery × service level, against what the design says (written
//! out here, not read from the table the code reads).

use super::*;
use motcua_proto::common::ServiceLevel;

fn caller(role: Option<Role>) -> Caller {
    Caller {
        subject: "t".into(),
        name: "t".into(),
        agency: "000.00.06.H56".into(),
        department: String::new(),
        roles: role.into_iter().collect(),
        province: None,
        expires_at: i64::MAX,
    }
}

const ROLES: [Option<Role>; 6] = [
    None,
    Some(Role::Desk),
    Some(Role::Specialist),
    Some(Role::Leader),
    Some(Role::Admin),
    Some(Role::Integration),
];

const LEVELS: [ServiceLevel; 6] = [
    ServiceLevel::Unspecified,
    ServiceLevel::ServiceLevel2,
    ServiceLevel::ServiceLevel3,
    ServiceLevel::ServiceLevel4,
    ServiceLevel::FullOnline,
    ServiceLevel::Partial,
];

/// What the design allows: the error code a cell gets, or None.
fn expected(
    channel: Channel,
    role: Option<Role>,
    level: ServiceLevel,
    postal: bool,
) -> Option<&'static str> {
    let online_level = matches!(
        level,
        ServiceLevel::ServiceLevel3
            | ServiceLevel::ServiceLevel4
            | ServiceLevel::FullOnline
            | ServiceLevel::Partial
    );
    match (channel, role) {
        (Channel::Unspecified, _) => Some("invalid"),
        (Channel::Counter, Some(Role::Desk)) => None,
        (Channel::Counter, _) => Some("denied"),
        (Channel::Online, Some(Role::Integration)) if online_level => None,
        (Channel::Online, Some(Role::Integration)) => Some("precondition"),
        (Channel::Online, _) => Some("denied"),
        (Channel::Postal, Some(Role::Desk | Role::Integration)) if postal => None,
        (Channel::Postal, Some(Role::Desk | Role::Integration)) => Some("precondition"),
        (Channel::Postal, _) => Some("denied"),
    }
}

fn kind(e: &ServiceError) -> &'static str {
    match e {
        ServiceError::InvalidArgument(_) => "invalid",
        ServiceError::PermissionDenied(_) => "denied",
        ServiceError::FailedPrecondition(_) => "precondition",
        _ => "other",
    }
}

#[test]
fn every_channel_role_level_and_postal_cell_is_allowed_or_refused_as_the_design_says() {
    let channels = [
        Channel::Unspecified,
        Channel::Counter,
        Channel::Online,
        Channel::Postal,
    ];
    let mut cells = 0;
    for channel in channels {
        for role in ROLES {
            for level in LEVELS {
                for postal in [false, true] {
                    let procedure = Procedure {
                        code: "1.013831".into(),
                        level: level as i32,
                        accepts_postal: postal,
                        ..Default::default()
                    };
                    let got = check_channel(&caller(role), channel, &procedure)
                        .err()
                        .map(|e| kind(&e));
                    assert_eq!(
                        got,
                        expected(channel, role, level, postal),
                        "{channel:?} by {role:?}, {level:?}, postal {postal}"
                    );
                    cells += 1;
                }
            }
        }
    }
    assert_eq!(cells, 4 * 6 * 6 * 2);
}

#[test]
fn every_result_delivery_and_level_cell_is_allowed_or_refused_as_the_design_says() {
    for level in LEVELS {
        let procedure = Procedure {
            code: "1.013831".into(),
            level: level as i32,
            ..Default::default()
        };
        let online = matches!(
            level,
            ServiceLevel::ServiceLevel4 | ServiceLevel::FullOnline
        );
        for (value, want) in [
            ("", Ok("tai-quay")),
            ("tai-quay", Ok("tai-quay")),
            (" buu-chinh ", Ok("buu-chinh")),
            (
                "truc-tuyen",
                if online {
                    Ok("truc-tuyen")
                } else {
                    Err("precondition")
                },
            ),
            ("email", Err("invalid")),
        ] {
            let got = check_result_delivery(value, &procedure);
            let got = got.as_deref().map_err(kind);
            assert_eq!(got, want, "{value:?} at {level:?}");
        }
    }
}
