//! `motcua token`: mints a bearer token signed with the static key (MOTCUA_JWT_SECRET, or the
//! public development key when unset). Production identity comes from an identity provider.

use clap::Args;
use motcua_platform::auth::{Claims, Role, mint};
use motcua_platform::config::DEV_JWT_SECRET;

#[derive(Debug, Args)]
pub struct TokenCmd {
    /// Role: desk, specialist, leader, admin or integration; repeat for several.
    #[arg(long = "role", required = true, value_parser = parse_role)]
    roles: Vec<Role>,
    /// Electronic agency code, e.g. 000.00.06.H56.
    #[arg(long)]
    agency: String,
    /// The officer's department, e.g. van-phong-dang-ky-dat-dai (steps name the department that
    /// performs them).
    #[arg(long, default_value = "")]
    department: String,
    /// Subject (user or system id).
    #[arg(long, default_value = "dev-officer")]
    sub: String,
    /// Display name.
    #[arg(long, default_value = "Cán bộ phát triển")]
    name: String,
    /// Province-wide (with --role admin or integration): covers every agency of the agency's province, e.g.
    /// H56 for 000.00.06.H56. Without it an admin covers its own agency only.
    #[arg(long)]
    province: bool,
    /// Hours until the token expires.
    #[arg(long, default_value_t = 12)]
    ttl_hours: i64,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!("{s:?} is not a role; use desk, specialist, leader, admin or integration")
    })
}

pub fn run(cmd: TokenCmd) -> Result<(), String> {
    motcua_domain::agency::check_agency_code(&cmd.agency).map_err(|e| format!("--agency: {e}"))?;
    if cmd.ttl_hours <= 0 {
        return Err("--ttl-hours: must be positive".into());
    }
    if cmd.province && !cmd.roles.contains(&Role::Admin) && !cmd.roles.contains(&Role::Integration)
    {
        return Err("--province: only with --role admin or --role integration".into());
    }
    let province = if cmd.province {
        motcua_platform::auth::province_of(&cmd.agency).to_owned()
    } else {
        String::new()
    };
    let secret = std::env::var("MOTCUA_JWT_SECRET").unwrap_or_else(|_| DEV_JWT_SECRET.to_owned());
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: cmd.sub,
        name: cmd.name,
        agency: cmd.agency,
        department: cmd.department,
        roles: cmd.roles,
        province,
        exp: now + cmd.ttl_hours * 3600,
        iat: now,
        ..Default::default()
    };
    println!("{}", mint(&secret, &claims).map_err(|e| e.to_string())?);
    Ok(())
}
