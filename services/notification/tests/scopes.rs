//! Walls (DESIGN.md "Identity"): every RPC refuses a caller of another agency (an admin of it too)
//! and of another province, and serves the agency's own officers and its province's admin; a
//! webhook subscription hears only the events of its owner's scope; webhook targets inside the
//! cluster are refused when created and when sent to, and redirects are not followed.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::auth::Role;
use motcua_proto::notification as pb;
use motcua_testkit::province_admin_token;
use uuid::Uuid;

/// A's things another caller must not reach.
struct Things {
    code: String,
    delivery: String,
    subscription: String,
    /// A receiver URL a subscription may be created for.
    url: String,
}

/// Calls `method` on A's things.
async fn call(client: &mut Client, method: &str, t: &Things) -> Result<(), tonic::Status> {
    match method {
        "ListDeliveries" => client
            .list_deliveries(pb::ListDeliveriesRequest {
                dossier_code: t.code.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ResendDelivery" => client
            .resend_delivery(pb::ResendDeliveryRequest {
                delivery_id: t.delivery.clone(),
            })
            .await
            .map(drop),
        "ListTemplates" => client
            .list_templates(pb::ListTemplatesRequest {
                agency: AGENCY.into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "PublishTemplate" => client
            .publish_template(pb::PublishTemplateRequest {
                template: Some(pb::Template {
                    trigger: "received".into(),
                    channel: pb::Channel::Sms as i32,
                    body: "Ho so {{ code }} da nhan.".into(),
                    agency: AGENCY.into(),
                    ..Default::default()
                }),
            })
            .await
            .map(drop),
        "ListSubscriptions" => client
            .list_subscriptions(pb::ListSubscriptionsRequest {
                agency: AGENCY.into(),
            })
            .await
            .map(drop),
        "CreateSubscription" => client
            .create_subscription(pb::CreateSubscriptionRequest {
                url: t.url.clone(),
                agency: AGENCY.into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "RotateSubscriptionSecret" => client
            .rotate_subscription_secret(pb::RotateSubscriptionSecretRequest {
                id: t.subscription.clone(),
                overlap_seconds: 60,
            })
            .await
            .map(drop),
        "DeleteSubscription" => client
            .delete_subscription(pb::DeleteSubscriptionRequest {
                id: t.subscription.clone(),
            })
            .await
            .map(drop),
        other => panic!("walk {other} too: a new RPC must be scoped and tested here"),
    }
}

/// The role a method needs: officers read deliveries, admins do the rest.
fn role(method: &str) -> Role {
    if method == "ListDeliveries" {
        Role::Desk
    } else {
        Role::Admin
    }
}

/// A subscription of A, made by A's admin, to the stand-in receiver.
async fn subscription_of_a(app: &App) -> String {
    app.subscribe(&token(&[Role::Admin], "qt-a"), "/hook/ok")
        .await
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_is_refused_outside_the_callers_agency_or_province() {
    let app = App::start(|v| v.set("MOTCUA_SMS_QUIET_HOURS", "off")).await;
    let methods = motcua_testkit::methods(
        motcua_proto::FILE_DESCRIPTOR_SET,
        "motcua.notification.v1.NotificationService",
    );
    assert_eq!(methods.len(), 8, "{methods:?}");
    // A dossier of A with its deliveries sent.
    let code = new_code();
    app.receive(&code, PHONE, EMAIL).await;
    let all_sent =
        "SELECT count(*) = 2 AND bool_and(status = 'sent') FROM deliveries WHERE dossier_code = $1";
    app.wait_db(all_sent, &code, "A's deliveries sent").await;
    let delivery: Uuid =
        sqlx::query_scalar("SELECT id FROM deliveries WHERE dossier_code = $1 AND channel = 'sms'")
            .bind(&code)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let things = Things {
        code: code.clone(),
        delivery: delivery.to_string(),
        subscription: subscription_of_a(&app).await,
        url: format!("{}/hook/ok", app.stand_url),
    };
    for method in &methods {
        for (who, t) in [
            (
                "an officer of another agency",
                motcua_testkit::token(&[role(method)], OTHER_AGENCY, "", "cb-b"),
            ),
            (
                "an admin of another agency",
                motcua_testkit::token(&[Role::Admin], OTHER_AGENCY, "", "qt-b"),
            ),
            (
                "a province admin of another province",
                province_admin_token(OTHER_PROVINCE, "qt-h57"),
            ),
        ] {
            let e = call(&mut app.client_with(&t).await, method, &things)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    e.code(),
                    tonic::Code::PermissionDenied | tonic::Code::NotFound
                ),
                "{method} on A's things by {who}: {e:?}"
            );
        }
    }
    // Nothing of A's changed: its subscription lives on, its delivery was not sent again, its
    // messages are worded by the defaults.
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM deliveries WHERE id = $1")
            .bind(delivery)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("sent", 1));
    let templates: i64 = sqlx::query_scalar("SELECT count(*) FROM templates")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(templates, 0, "no template was published");
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM subscriptions WHERE deleted_at IS NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(live, 1, "nobody else created or deleted a subscription");

    // A's own officers and admin, and the admin of A's province, are served.
    for method in &methods {
        for (who, t) in [
            ("A's own", token(&[role(method)], "cb-a")),
            (
                "the province's admin",
                province_admin_token(OTHER_AGENCY, "qt-h56"),
            ),
        ] {
            // A delivery done and a subscription alive for each call that needs them.
            app.wait_db(all_sent, &code, "A's deliveries sent").await;
            let mine = Things {
                code: things.code.clone(),
                delivery: things.delivery.clone(),
                subscription: subscription_of_a(&app).await,
                url: things.url.clone(),
            };
            call(&mut app.client_with(&t).await, method, &mine)
                .await
                .unwrap_or_else(|e| panic!("{method} on A's things by {who}: {e:?}"));
        }
    }
    // A's officers see A's deliveries; the province admin too.
    for t in [
        token(&[Role::Desk], "mc-a"),
        province_admin_token(OTHER_AGENCY, "qt-h56"),
    ] {
        let list = app
            .client_with(&t)
            .await
            .list_deliveries(pb::ListDeliveriesRequest {
                dossier_code: code.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(list.deliveries.len(), 2);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_of_another_agency_never_words_this_agencys_messages() {
    let app = App::start(|v| v.set("MOTCUA_SMS_QUIET_HOURS", "off")).await;
    let publish = |body: &str| pb::PublishTemplateRequest {
        template: Some(pb::Template {
            trigger: "received".into(),
            channel: pb::Channel::Sms as i32,
            body: body.into(),
            ..Default::default()
        }),
    };
    // B's admin words B's receipts; A's stay the default.
    app.client_with(&motcua_testkit::token(
        &[Role::Admin],
        OTHER_AGENCY,
        "",
        "qt-b",
    ))
    .await
    .publish_template(publish("Co quan B da nhan ho so {{ code }}."))
    .await
    .unwrap();
    let (a, b) = (new_code(), code_of(OTHER_AGENCY));
    for code in [&a, &b] {
        app.receive(code, PHONE, "").await;
    }
    for code in [&a, &b] {
        app.wait_db(
            "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dossier_code = $1 AND channel = 'sms')",
            code,
            "the receipt's SMS planned",
        )
        .await;
    }
    let body = async |code: &str| -> (String, i32) {
        sqlx::query_as(
            "SELECT body, template_version FROM deliveries WHERE dossier_code = $1 AND channel = 'sms'",
        )
        .bind(code)
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    assert_eq!(body(&b).await, (format!("Co quan B da nhan ho so {b}."), 1));
    let (text, version) = body(&a).await;
    assert_eq!(version, 0, "A's receipt uses the built-in template: {text}");
    assert!(text.contains("da duoc tiep nhan"), "{text}");
    // Each admin lists their own agency's templates.
    let listed = async |t: String| {
        app.client_with(&t)
            .await
            .list_templates(pb::ListTemplatesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .templates
            .into_iter()
            .find(|t| t.trigger == "received" && t.channel == pb::Channel::Sms as i32)
            .unwrap()
    };
    let mine = listed(token(&[Role::Admin], "qt-a")).await;
    assert_eq!((mine.version, mine.agency.as_str()), (0, ""));
    let theirs = listed(motcua_testkit::token(
        &[Role::Admin],
        OTHER_AGENCY,
        "",
        "qt-b",
    ))
    .await;
    assert_eq!((theirs.version, theirs.agency.as_str()), (1, OTHER_AGENCY));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_hears_only_its_owners_scope() {
    let app = App::start(|_| {}).await;
    let create = async |t: String| app.subscribe(&t, "/hook/ok").await;
    let of_07 = create(motcua_testkit::token(
        &[Role::Admin],
        OTHER_AGENCY,
        "",
        "qt-07",
    ))
    .await;
    assert_eq!(
        (of_07.agency.as_str(), of_07.province.as_str()),
        (OTHER_AGENCY, "")
    );
    let of_06 = create(token(&[Role::Admin], "qt-06")).await;
    let of_h56 = create(province_admin_token(OTHER_AGENCY, "qt-h56")).await;
    assert_eq!(
        (of_h56.agency.as_str(), of_h56.province.as_str()),
        ("", "H56")
    );
    let of_h57 = create(province_admin_token(OTHER_PROVINCE, "qt-h57")).await;
    // A dossier of 06 and one of 07.
    let (a, b) = (new_code(), code_of(OTHER_AGENCY));
    let mut ids = Vec::new();
    for code in [&a, &b] {
        ids.push(app.receive(code, "", "").await);
    }
    for id in ids {
        app.wait_handled(id).await;
    }
    let heard = async |sub: &pb::Subscription| -> Vec<String> {
        sqlx::query_scalar(
            "SELECT dossier_code FROM deliveries WHERE recipient_kind = 'subscriber' AND recipient_ref = $1
             ORDER BY dossier_code",
        )
        .bind(&sub.id)
        .fetch_all(&app.db)
        .await
        .unwrap()
    };
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(
        heard(&of_07).await,
        [b.as_str()],
        "07's subscription: nothing of 06"
    );
    assert_eq!(
        heard(&of_06).await,
        [a.as_str()],
        "06's subscription: nothing of 07"
    );
    assert_eq!(heard(&of_h56).await, both, "the province admin's: both");
    assert!(
        heard(&of_h57).await.is_empty(),
        "another province's: neither"
    );
    // And the receiver got exactly those four webhooks, each of its subscriber's scope.
    app.wait_db(
        "SELECT count(*) = 4 AND bool_and(status = 'delivered') FROM deliveries WHERE recipient_kind = 'subscriber' AND $1 <> ''",
        "x",
        "the four webhooks delivered",
    )
    .await;
    assert_eq!(app.stand.hooks.lock().unwrap().len(), 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_targets_inside_the_cluster_are_refused_when_created_and_when_sent_to() {
    let mut app = App::start(|_| {}).await;
    let mut admin = app.admin().await;
    // A name of this machine that resolves to loopback without saying so (/etc/hosts).
    let host = std::fs::read_to_string("/etc/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 443))
        .await
        .unwrap()
        .collect();
    assert!(
        resolved.iter().all(|a| a.ip().is_loopback()),
        "this test needs the machine's name to resolve to loopback: {host} → {resolved:?}"
    );
    for url in [
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://10.1.2.3/hook".to_owned(),
        "https://172.16.0.9/hook".to_owned(),
        "https://192.168.1.10/hook".to_owned(),
        "https://100.64.0.1/hook".to_owned(),
        "https://0.0.0.0/hook".to_owned(),
        "https://[::1]/hook".to_owned(),
        "https://[fd00::1]/hook".to_owned(),
        "https://[fe80::1]/hook".to_owned(),
        "https://[::ffff:127.0.0.1]/hook".to_owned(),
        "https://localhost/hook".to_owned(),
        "https://kube-dns.kube-system.svc/hook".to_owned(),
        "https://api.default.svc.cluster.local/hook".to_owned(),
        format!("https://{host}/hook"),
        format!("https://{host}./hook"),
        "http://cong.example.gov.vn/hook".to_owned(),
        "ftp://cong.example.gov.vn/hook".to_owned(),
    ] {
        let e = admin
            .create_subscription(pb::CreateSubscriptionRequest {
                url: url.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{url}: {e:?}");
        assert!(e.message().contains("url"), "{url}: {}", e.message());
    }
    // Allowed by MOTCUA_WEBHOOK_ALLOWED_TARGETS (127.0.0.1): the stand-in receivers. One of them
    // redirects to the metadata address: the redirect is not followed.
    let mut subs = Vec::new();
    for path in ["/hook/ok", "/hook/redirect"] {
        subs.push(app.subscribe(&token(&[Role::Admin], "qt-a"), path).await.id);
    }
    let code = new_code();
    app.receive(&code, "", "").await;
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE recipient_ref = $1 AND status = 'queued' AND last_error LIKE 'HTTP 302%')",
        &subs[1],
        "the redirect taken as a failed attempt (retried later, as any non-2xx), not followed",
    )
    .await;
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE recipient_ref = $1 AND status = 'delivered')",
        &subs[0],
        "the allowed receiver delivered",
    )
    .await;
    // The allow-list withdrawn: the target is checked again at every attempt, so the same
    // subscription's next delivery fails, and nothing reaches the receiver.
    app.restart_notification(|v| v.set("MOTCUA_WEBHOOK_ALLOWED_TARGETS", ""))
        .await;
    let code = new_code();
    app.receive(&code, "", "").await;
    app.wait_db(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE dossier_code = $1 AND recipient_kind = 'subscriber' AND status = 'failed' AND last_error LIKE '%internal address%')",
        &code,
        "the delivery refused at send time",
    )
    .await;
    assert_eq!(
        app.stand.hooks.lock().unwrap().len(),
        1,
        "only the first one"
    );
    app.stop().await;
}

/// A subscription made before subscriptions had scopes names no agency: it hears nothing and no
/// admin sees it, and nothing says whose it was. The operator is told at start, by URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_from_before_scopes_is_named_in_the_health_details() {
    let mut app = App::start(|_| {}).await;
    let process = |app: &App| app.process_of("notification").status.clone();
    assert!(
        !process(&app)
            .notes("notification")
            .contains_key("subscriptions-unscoped")
    );
    sqlx::query(
        "INSERT INTO subscriptions (id, url, created_at) VALUES ($1, 'https://old.example.vn/hook', now())",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&app.db)
    .await
    .unwrap();
    app.restart_notification(|_| {}).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let said = loop {
        if let Some(said) = process(&app)
            .notes("notification")
            .get("subscriptions-unscoped")
            .cloned()
        {
            break said;
        }
        assert!(std::time::Instant::now() < deadline, "no health detail");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(said.contains("https://old.example.vn/hook"), "{said}");
    assert!(said.starts_with("1 webhook subscription"), "{said}");
    app.stop().await;
}
