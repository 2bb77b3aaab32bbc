//! Tests of config parsing: every field, every refusal message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

fn ok(json: &str) -> RateLimitConfig {
    match RateLimitConfig::from_json(json.as_bytes()) {
        Ok(c) => c,
        Err(e) => panic!("config {json} refused: {e}"),
    }
}

fn err(json: &str) -> String {
    match RateLimitConfig::from_json(json.as_bytes()) {
        Ok(_) => panic!("config {json} accepted"),
        Err(e) => e.to_string(),
    }
}

fn default_limits(c: &RateLimitConfig) -> Vec<Limit> {
    c.default_rule().unwrap().limits().to_vec()
}

both_targets_test! {
    fn minimal_kong_config_has_kongs_defaults() {
        let c = ok(r#"{"minute": 5}"#);
        assert_eq!(default_limits(&c), [Limit { max: 5, window: Window::Minute }]);
        let rule = c.default_rule().unwrap();
        assert_eq!(rule.key().parts, [KeyPart::Consumer { header: "x-consumer-id".into() }]);
        assert_eq!(rule.window_type(), WindowType::Fixed);
        assert_eq!(rule.index(), 0);
        assert_eq!(c.policy(), &Policy::Local);
        assert!(c.fault_tolerant());
        assert_eq!(c.header_mode(), HeaderMode::Kong);
        assert_eq!(c.error_code(), 429);
        assert_eq!(c.error_body(), br#"{"message":"API rate limit exceeded"}"#);
        assert_eq!(c.local_slots(), DEFAULT_LOCAL_SLOTS);
        assert!(c.trusted_proxies().is_empty());
        assert_eq!(c.request_headers(), ["x-consumer-id", "x-credential-identifier"]);
    }
}

both_targets_test! {
    fn all_named_periods_are_read_and_sorted() {
        let c = ok(r#"{"year": 6, "second": 1, "month": 5, "minute": 2, "day": 4, "hour": 3}"#);
        let windows: Vec<Window> = default_limits(&c).iter().map(|l| l.window).collect();
        assert_eq!(
            windows,
            [Window::Second, Window::Minute, Window::Hour, Window::Day, Window::Month, Window::Year]
        );
        let names: Vec<&str> = c.default_rule().unwrap().names().iter().map(|n| n.limit_header.as_str()).collect();
        assert_eq!(names[1], "X-RateLimit-Limit-Minute");
        assert_eq!(names[5], "X-RateLimit-Limit-Year");
    }
}

both_targets_test! {
    fn integral_floats_are_accepted_as_kong_stores_numbers() {
        assert_eq!(default_limits(&ok(r#"{"minute": 5.0}"#))[0].max, 5);
    }
}

both_targets_test! {
    fn non_integer_and_non_positive_limits_are_refused() {
        assert_eq!(err(r#"{"minute": "five"}"#), r#"`minute`: expected a positive integer, got "five""#);
        assert_eq!(err(r#"{"minute": 0}"#), "`minute`: expected a positive integer, got 0");
        assert_eq!(err(r#"{"second": -3}"#), "`second`: expected a positive integer, got -3");
        assert_eq!(err(r#"{"hour": 1.5}"#), "`hour`: expected a positive integer, got 1.5");
        assert_eq!(err(r#"{"day": true}"#), "`day`: expected a positive integer, got true");
    }
}

both_targets_test! {
    fn null_fields_count_as_absent_as_in_kong_exports() {
        let c = ok(r#"{"second": null, "minute": 5, "header_name": null, "path": null, "policy": "local",
                      "redis_host": null, "redis_port": 6379, "redis_timeout": 2000, "redis_database": 0,
                      "redis_ssl": false, "redis_ssl_verify": false, "redis_password": null,
                      "sync_rate": -1, "error_code": 429, "error_message": "API rate limit exceeded",
                      "fault_tolerant": true, "hide_client_headers": false, "limit_by": "consumer"}"#);
        assert_eq!(default_limits(&c).len(), 1);
    }
}

both_targets_test! {
    fn kong_3_redis_block_with_defaults_is_accepted() {
        ok(r#"{"minute": 5, "redis": {"host": null, "port": 6379, "timeout": 2000, "database": 0,
              "ssl": false, "ssl_verify": false, "username": null, "password": null, "server_name": null}}"#);
    }
}

both_targets_test! {
    fn period_order_is_checked_as_kong_does() {
        assert_eq!(
            err(r#"{"second": 5, "minute": 3}"#),
            "The limit for minute(3) cannot be lower than the limit for second(5)"
        );
        assert_eq!(
            err(r#"{"minute": 10, "limits": [{"max": 4, "window": "90s"}]}"#),
            "The limit for 90s(4) cannot be lower than the limit for minute(10)"
        );
        assert_eq!(
            err(r#"{"minute": 5, "rules": [{"match": {"host": "a"}, "hour": 10, "day": 2}]}"#),
            "`rules[0]`: The limit for day(2) cannot be lower than the limit for hour(10)"
        );
        ok(r#"{"second": 5, "minute": 5}"#);
    }
}

both_targets_test! {
    fn no_limit_anywhere_gives_kongs_message() {
        let expected = "at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year', 'limits'";
        assert_eq!(err("{}"), expected);
        assert_eq!(err(""), expected);
        assert_eq!(err(r#"{"limits": []}"#), expected);
    }
}

both_targets_test! {
    fn invalid_json_and_non_objects_are_refused() {
        assert!(err("{minute: 5}").starts_with("the configuration is not valid JSON: "));
        assert_eq!(err("[1]"), "the configuration must be a JSON object, got an array");
        assert_eq!(err("5"), "the configuration must be a JSON object, got 5");
    }
}

both_targets_test! {
    fn unknown_fields_are_refused_with_their_path() {
        assert_eq!(err(r#"{"minute": 5, "foo": 1}"#), "unknown field `foo`");
        assert_eq!(
            err(r#"{"minute": 5, "rules": [{"match": {"host": "a"}}, {"match": {"hots": "a"}}]}"#),
            "unknown field `rules[1].match.hots`"
        );
        assert_eq!(err(r#"{"limits": [{"max": 1, "window": "1s", "burst": 2}]}"#), "unknown field `limits[0].burst`");
        assert_eq!(err(r#"{"minute": 1, "redis_proxy": {"upstream": "w", "db": 1}}"#), "unknown field `redis_proxy.db`");
    }
}

both_targets_test! {
    fn custom_limits_combine_with_named_fields() {
        let c = ok(r#"{"minute": 10, "limits": [{"max": 100, "window": "90s"}, {"max": 1000, "window": "2h"}, {"max": 5000, "window": "7d"}]}"#);
        let l = default_limits(&c);
        assert_eq!(l[0], Limit { max: 10, window: Window::Minute });
        assert_eq!(l[1], Limit { max: 100, window: Window::Seconds(90) });
        assert_eq!(l[2], Limit { max: 1000, window: Window::Seconds(7_200) });
        assert_eq!(l[3], Limit { max: 5000, window: Window::Seconds(604_800) });
    }
}

both_targets_test! {
    fn custom_windows_of_named_length_become_named_windows() {
        let c = ok(r#"{"limits": [{"max": 10, "window": "60s"}, {"max": 20, "window": "1h"}, {"max": 30, "window": "1d"}]}"#);
        let windows: Vec<Window> = default_limits(&c).iter().map(|l| l.window).collect();
        assert_eq!(windows, [Window::Minute, Window::Hour, Window::Day]);
    }
}

both_targets_test! {
    fn a_window_limited_twice_is_refused() {
        assert_eq!(
            err(r#"{"minute": 10, "limits": [{"max": 20, "window": "1m"}]}"#),
            "`limits[0].window`: a minute window is already limited by `minute`"
        );
    }
}

both_targets_test! {
    fn malformed_custom_limits_are_refused() {
        let expected = r#"expected a duration such as "90s", "5m", "1h" or "1d" (at most 366d)"#;
        assert_eq!(err(r#"{"limits": [{"max": 1, "window": "5x"}]}"#), format!("`limits[0].window`: {expected}, got \"5x\""));
        assert_eq!(err(r#"{"limits": [{"max": 1, "window": "0s"}]}"#), format!("`limits[0].window`: {expected}, got \"0s\""));
        assert_eq!(err(r#"{"limits": [{"max": 1, "window": "400d"}]}"#), format!("`limits[0].window`: {expected}, got \"400d\""));
        assert_eq!(err(r#"{"limits": [{"max": 1, "window": 90}]}"#), format!("`limits[0].window`: {expected}, got 90"));
        assert_eq!(err(r#"{"limits": [{"max": 1}]}"#), "`limits[0].window`: required: expected a duration such as \"90s\"");
        assert_eq!(err(r#"{"limits": [{"window": "1s"}]}"#), "`limits[0].max`: required: expected a positive integer");
        assert_eq!(err(r#"{"limits": [{"max": -1, "window": "1s"}]}"#), "`limits[0].max`: expected a positive integer, got -1");
        assert_eq!(err(r#"{"limits": {"max": 1}}"#), "`limits`: expected an array, got an object");
    }
}

both_targets_test! {
    fn more_than_eight_limits_are_refused() {
        let many: Vec<String> = (2..=10).map(|s| format!(r#"{{"max": 100, "window": "{s}s"}}"#)).collect();
        let json = format!(r#"{{"limits": [{}]}}"#, many.join(","));
        assert_eq!(err(&json), "`limits`: at most 8 limits are allowed together, got 9");
    }
}

both_targets_test! {
    fn limit_by_accepts_every_kong_value() {
        let parts = |json: &str| ok(json).default_rule().unwrap().key().parts.clone();
        assert_eq!(parts(r#"{"minute": 1, "limit_by": "ip"}"#), [KeyPart::Ip]);
        assert_eq!(parts(r#"{"minute": 1, "limit_by": "credential"}"#), [KeyPart::Credential]);
        assert_eq!(parts(r#"{"minute": 1, "limit_by": "service"}"#), [KeyPart::Service]);
        assert_eq!(
            parts(r#"{"minute": 1, "limit_by": "header", "header_name": "X-Api-Key"}"#),
            [KeyPart::Header { name: "x-api-key".into() }]
        );
        assert_eq!(
            parts(r#"{"minute": 1, "limit_by": "path", "path": "/login"}"#),
            [KeyPart::Path { path: "/login".into() }]
        );
        assert_eq!(
            parts(r#"{"minute": 1, "limit_by": "consumer", "consumer_header": "X-User"}"#),
            [KeyPart::Consumer { header: "x-user".into() }]
        );
    }
}

both_targets_test! {
    fn limit_by_array_builds_a_composite_key() {
        let c = ok(r#"{"minute": 1, "limit_by": ["header", "ip"], "header_name": "x-tenant", "trusted_proxies": ["10.0.0.0/8"]}"#);
        assert_eq!(
            c.default_rule().unwrap().key().parts,
            [KeyPart::Header { name: "x-tenant".into() }, KeyPart::Ip]
        );
        assert_eq!(c.request_headers(), ["x-tenant", "x-forwarded-for", "forwarded"]);
    }
}

both_targets_test! {
    fn limit_by_refusals_name_the_field() {
        assert_eq!(
            err(r#"{"minute": 1, "limit_by": "user"}"#),
            r#"`limit_by`: expected one of "consumer", "credential", "ip", "service", "header", "path", got "user""#
        );
        assert_eq!(
            err(r#"{"minute": 1, "limit_by": ["ip", "ip"]}"#),
            r#"`limit_by[1]`: expected each `limit_by` value once, got "ip""#
        );
        assert!(err(r#"{"minute": 1, "limit_by": []}"#).starts_with("`limit_by`: expected at least one of"));
        assert!(err(r#"{"minute": 1, "limit_by": ["ip", 3]}"#).starts_with("`limit_by[1]`: expected one of"));
    }
}

both_targets_test! {
    fn consumer_group_is_refused_with_an_alternative() {
        let e = err(r#"{"minute": 1, "limit_by": "consumer-group"}"#);
        assert!(e.starts_with("`limit_by`: \"consumer-group\" is not supported"), "{e}");
        assert!(e.contains("\"header\""), "{e}");
    }
}

both_targets_test! {
    fn header_limit_needs_header_name() {
        assert_eq!(
            err(r#"{"minute": 1, "limit_by": "header"}"#),
            "`header_name`: required when `limit_by` includes \"header\""
        );
        assert_eq!(
            err(r#"{"minute": 1, "limit_by": "header", "header_name": "bad name"}"#),
            "`header_name`: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \"bad name\""
        );
        assert_eq!(
            err(r#"{"minute": 1, "consumer_header": ""}"#),
            "`consumer_header`: expected a header name (letters, digits and !#$%&'*+-.^_`|~), got \"\""
        );
    }
}

both_targets_test! {
    fn path_limit_needs_an_absolute_path() {
        assert_eq!(
            err(r#"{"minute": 1, "limit_by": "path"}"#),
            "`path`: required when `limit_by` includes \"path\""
        );
        assert_eq!(
            err(r#"{"minute": 1, "limit_by": "path", "path": "login"}"#),
            "`path`: expected a string starting with \"/\", got \"login\""
        );
    }
}

both_targets_test! {
    fn window_type_and_headers_modes() {
        assert_eq!(ok(r#"{"minute": 1, "window_type": "sliding"}"#).default_rule().unwrap().window_type(), WindowType::Sliding);
        assert_eq!(ok(r#"{"minute": 1, "headers": "ietf"}"#).header_mode(), HeaderMode::Ietf);
        assert_eq!(ok(r#"{"minute": 1, "headers": "both"}"#).header_mode(), HeaderMode::Both);
        assert_eq!(ok(r#"{"minute": 1, "headers": "none"}"#).header_mode(), HeaderMode::None);
        assert_eq!(ok(r#"{"minute": 1, "headers": "both", "hide_client_headers": true}"#).header_mode(), HeaderMode::None);
        assert_eq!(
            err(r#"{"minute": 1, "window_type": "rolling"}"#),
            r#"`window_type`: expected one of "fixed", "sliding", got "rolling""#
        );
        assert_eq!(
            err(r#"{"minute": 1, "headers": "draft"}"#),
            r#"`headers`: expected one of "kong", "ietf", "both", "none", got "draft""#
        );
        assert_eq!(
            err(r#"{"minute": 1, "hide_client_headers": "yes"}"#),
            r#"`hide_client_headers`: expected true or false, got "yes""#
        );
    }
}

both_targets_test! {
    fn error_code_and_message_shape_the_rejection() {
        let c = ok(r#"{"minute": 1, "error_code": 503, "error_message": "slow \"down\"\n", "fault_tolerant": false}"#);
        assert_eq!(c.error_code(), 503);
        assert_eq!(c.error_body(), br#"{"message":"slow \"down\"\n"}"#);
        assert!(!c.fault_tolerant());
        assert_eq!(err(r#"{"minute": 1, "error_code": 700}"#), "`error_code`: expected an HTTP status code (100-599), got 700");
        assert_eq!(err(r#"{"minute": 1, "error_code": "429"}"#), r#"`error_code`: expected an HTTP status code (100-599), got "429""#);
        assert_eq!(err(r#"{"minute": 1, "error_message": 5}"#), "`error_message`: expected a string, got 5");
        assert_eq!(err(r#"{"minute": 1, "fault_tolerant": 1}"#), "`fault_tolerant`: expected true or false, got 1");
    }
}

both_targets_test! {
    fn local_slots_are_bounded() {
        assert_eq!(ok(r#"{"minute": 1, "local_slots": 1024}"#).local_slots(), 1024);
        assert_eq!(ok(r#"{"minute": 1, "local_slots": 16777216}"#).local_slots(), MAX_LOCAL_SLOTS);
        assert_eq!(err(r#"{"minute": 1, "local_slots": 0}"#), "`local_slots`: expected a positive integer, got 0");
        assert!(err(r#"{"minute": 1, "local_slots": 16777217}"#).starts_with("`local_slots`: expected at most 16777216 slots per rule"));
    }
}

both_targets_test! {
    fn trusted_proxies_are_parsed_ipv4_and_ipv6() {
        let c = ok(r#"{"minute": 1, "trusted_proxies": ["10.0.0.0/8", "fd00::/8", "192.0.2.1"]}"#);
        assert!(c.trusted_proxies().contains("10.1.1.1".parse().unwrap()));
        assert!(c.trusted_proxies().contains("fd12::1".parse().unwrap()));
        assert!(c.trusted_proxies().contains("192.0.2.1".parse().unwrap()));
        assert!(!c.trusted_proxies().contains("192.0.2.2".parse().unwrap()));
        assert_eq!(
            err(r#"{"minute": 1, "trusted_proxies": ["10.0.0.0/8", "10.0.0.0/40"]}"#),
            r#"`trusted_proxies[1]`: expected an IPv4 or IPv6 address or CIDR such as "10.0.0.0/8", got "10.0.0.0/40""#
        );
    }
}

both_targets_test! {
    fn cluster_and_redis_policies_need_a_webdis_upstream() {
        let c = ok(r#"{"minute": 1, "policy": "redis", "redis_proxy": {"upstream": "webdis"}}"#);
        assert_eq!(
            c.policy(),
            &Policy::Cluster {
                proxy: RedisProxy {
                    upstream: "webdis".into(),
                    authority: None,
                    timeout_ms: 1000,
                    authorization: None,
                    key_prefix: "ratelimit".into(),
                },
                sync_rate: SyncRate::Strict,
            }
        );
        let c = ok(r#"{"minute": 1, "policy": "cluster", "sync_rate": 0.5, "redis_proxy": {"upstream": "127.0.0.1:7379",
                     "authority": "webdis.local", "timeout_ms": 250, "authorization": "Basic eDp5", "key_prefix": "rl"}}"#);
        let Policy::Cluster { proxy, sync_rate } = c.policy() else { panic!("cluster expected") };
        assert_eq!(*sync_rate, SyncRate::EveryMs(500));
        assert_eq!(proxy.authority.as_deref(), Some("webdis.local"));
        assert_eq!(proxy.timeout_ms, 250);
        assert_eq!(proxy.authorization.as_deref(), Some("Basic eDp5"));
        assert_eq!(proxy.key_prefix, "rl");
        let e = err(r#"{"minute": 1, "policy": "cluster"}"#);
        assert!(e.starts_with("`redis_proxy.upstream`: required when `policy` is \"cluster\" or \"redis\""), "{e}");
        assert!(err(r#"{"minute": 1, "policy": "redis", "redis_proxy": {}}"#).starts_with("`redis_proxy.upstream`: required"));
        assert_eq!(
            err(r#"{"minute": 1, "policy": "redis", "redis_proxy": {"upstream": ""}}"#),
            r#"`redis_proxy.upstream`: expected a non-empty string, got """#
        );
        assert_eq!(
            err(r#"{"minute": 1, "policy": "shared"}"#),
            r#"`policy`: expected one of "local", "cluster", "redis", got "shared""#
        );
    }
}

both_targets_test! {
    fn local_policy_keeps_a_redis_proxy_but_ignores_it() {
        assert_eq!(ok(r#"{"minute": 1, "redis_proxy": {"upstream": "webdis"}}"#).policy(), &Policy::Local);
    }
}

both_targets_test! {
    fn sync_rate_is_minus_one_or_positive_seconds() {
        let e = "`sync_rate`: expected -1 (sync on every request) or a number of seconds between 0 and 86400";
        assert_eq!(err(r#"{"minute": 1, "sync_rate": 0}"#), format!("{e}, got 0"));
        assert_eq!(err(r#"{"minute": 1, "sync_rate": -2}"#), format!("{e}, got -2"));
        assert_eq!(err(r#"{"minute": 1, "sync_rate": "1"}"#), format!("{e}, got \"1\""));
        let c = ok(r#"{"minute": 1, "policy": "redis", "sync_rate": 10, "redis_proxy": {"upstream": "w"}}"#);
        assert!(matches!(c.policy(), Policy::Cluster { sync_rate: SyncRate::EveryMs(10_000), .. }));
    }
}

both_targets_test! {
    fn kong_redis_fields_are_refused_with_what_to_use_instead() {
        let socket = "a wasm plugin cannot open a socket to Redis; point `redis_proxy.upstream` at a Webdis in front of your Redis (policy \"redis\")";
        assert_eq!(err(r#"{"minute": 1, "redis": {"host": "redis.local", "port": 6379}}"#), format!("`redis.host`: {socket}"));
        assert_eq!(err(r#"{"minute": 1, "redis_host": "redis.local"}"#), format!("`redis_host`: {socket}"));
        assert_eq!(err(r#"{"minute": 1, "redis_port": 6380}"#), format!("`redis_port`: {socket}"));
        assert_eq!(err(r#"{"minute": 1, "redis_server_name": "r"}"#), "`redis_server_name`: a wasm plugin talks to Redis through Webdis; configure TLS to Redis in Webdis");
        assert_eq!(err(r#"{"minute": 1, "redis_ssl": true}"#), "`redis_ssl`: a wasm plugin talks to Redis through Webdis; configure TLS to Redis in Webdis");
        assert_eq!(err(r#"{"minute": 1, "redis_ssl_verify": true}"#), "`redis_ssl_verify`: a wasm plugin talks to Redis through Webdis; configure TLS to Redis in Webdis");
        assert!(err(r#"{"minute": 1, "redis_password": "p"}"#).starts_with("`redis_password`: a wasm plugin cannot authenticate to Redis itself"));
        assert!(err(r#"{"minute": 1, "redis_username": "u"}"#).starts_with("`redis_username`: a wasm plugin cannot authenticate"));
        assert!(err(r#"{"minute": 1, "redis_timeout": 500}"#).ends_with("set `redis_proxy.timeout_ms`"));
        assert!(err(r#"{"minute": 1, "redis_database": 2}"#).contains("choose the database in Webdis's config"));
        assert!(err(r#"{"minute": 1, "redis": {"cluster_nodes": [{"ip": "1.2.3.4"}]}}"#).starts_with("`redis.cluster_nodes`: a wasm plugin cannot open a socket"));
        assert!(err(r#"{"minute": 1, "redis": "redis://x"}"#).starts_with("`redis`: a wasm plugin cannot open a socket"));
    }
}

both_targets_test! {
    fn rules_inherit_key_fields_but_not_limits() {
        let c = ok(r#"{"minute": 100, "limit_by": "header", "header_name": "x-key", "window_type": "sliding",
                       "rules": [{"match": {"path_prefix": "/login"}, "minute": 5, "limit_by": "ip"},
                                 {"match": {"host": "API.example.com"}, "second": 2, "window_type": "fixed"}]}"#);
        let r0 = &c.rules()[0];
        assert_eq!(r0.index(), 0);
        assert_eq!(r0.key().parts, [KeyPart::Ip]);
        assert_eq!(r0.window_type(), WindowType::Sliding);
        assert_eq!(r0.limits(), [Limit { max: 5, window: Window::Minute }]);
        let r1 = &c.rules()[1];
        assert_eq!(r1.key().parts, [KeyPart::Header { name: "x-key".into() }]);
        assert_eq!(r1.window_type(), WindowType::Fixed);
        assert_eq!(r1.matcher().host.as_deref(), Some("api.example.com"));
        assert_eq!(c.default_rule().unwrap().index(), 2);
    }
}

both_targets_test! {
    fn first_matching_rule_wins_and_the_default_comes_last() {
        let c = ok(r#"{"minute": 100,
                       "rules": [{"match": {"path_prefix": "/login"}, "minute": 5},
                                 {"match": {"path_prefix": "/"}, "minute": 50},
                                 {"match": {"route_name": "never"}, "minute": 1}]}"#);
        let pick = |path: &[u8]| c.select_rule(None, None, Some(path)).map(|(i, r)| (i, r.limits()[0].max));
        assert_eq!(pick(b"/login/x"), Some((0, 5)));
        assert_eq!(pick(b"/other"), Some((1, 50)));
        assert_eq!(c.select_rule(None, None, None).map(|(i, _)| i), Some(3));
        assert!(c.needs_route_name());
    }
}

both_targets_test! {
    fn unmatched_requests_pass_when_the_top_level_has_no_limits() {
        let c = ok(r#"{"rules": [{"match": {"host": "api.test"}, "minute": 5}]}"#);
        assert!(c.default_rule().is_none());
        assert!(c.select_rule(None, Some(b"other.test"), None).is_none());
        assert_eq!(c.select_rule(None, Some(b"api.test:443"), None).map(|(i, _)| i), Some(0));
    }
}

both_targets_test! {
    fn a_rule_without_limits_exempts_what_it_matches() {
        let c = ok(r#"{"minute": 5, "rules": [{"match": {"path_prefix": "/health"}}]}"#);
        assert!(c.select_rule(None, None, Some(b"/health")).is_none());
        assert!(c.select_rule(None, None, Some(b"/api")).is_some());
    }
}

both_targets_test! {
    fn rule_refusals_name_the_rule() {
        assert_eq!(
            err(r#"{"minute": 1, "rules": [{"minute": 1}]}"#),
            "`rules[0].match`: required: expected an object with `route_name`, `host` or `path_prefix`"
        );
        assert_eq!(
            err(r#"{"minute": 1, "rules": [{"match": {}}]}"#),
            "`rules[0].match`: expected at least one of `route_name`, `host`, `path_prefix`"
        );
        assert_eq!(
            err(r#"{"minute": 1, "rules": [{"match": {"host": "a"}}, {"match": {"path_prefix": "api"}}]}"#),
            r#"`rules[1].match.path_prefix`: expected a string starting with "/", got "api""#
        );
        assert_eq!(
            err(r#"{"minute": 1, "rules": [{"match": {"host": "a.*.com"}}]}"#),
            r#"`rules[0].match.host`: expected a host name such as "api.example.com" or "*.example.com", got "a.*.com""#
        );
        assert_eq!(
            err(r#"{"minute": 1, "rules": [{"match": {"route_name": 1}}]}"#),
            "`rules[0].match.route_name`: expected a string, got 1"
        );
        assert_eq!(
            err(r#"{"minute": 1, "rules": [{"match": {"host": "a"}, "minute": "x"}]}"#),
            r#"`rules[0].minute`: expected a positive integer, got "x""#
        );
        assert_eq!(
            err(r#"{"minute": 1, "rules": [{"match": {"host": "a"}, "minute": 1, "limit_by": "header"}]}"#),
            "`rules[0].header_name`: required when `rules[0].limit_by` includes \"header\""
        );
        assert_eq!(
            err(r#"{"minute": 1, "rules": [{"match": {"host": "a"}, "policy": "local"}]}"#),
            "unknown field `rules[0].policy`"
        );
        assert_eq!(err(r#"{"minute": 1, "rules": {}}"#), "`rules`: expected an array, got an object");
    }
}

both_targets_test! {
    fn limits_only_in_rules_satisfy_the_at_least_one_limit_rule() {
        let c = ok(r#"{"rules": [{"match": {"route_name": "r"}, "limits": [{"max": 3, "window": "10s"}]}]}"#);
        assert_eq!(c.rules()[0].limits()[0].window, Window::Seconds(10));
        assert!(!c.needs_service_name());
        assert!(ok(r#"{"minute": 1, "limit_by": "service"}"#).needs_service_name());
    }
}

both_targets_test! {
    fn error_values_in_messages_are_cut_short() {
        let long = "x".repeat(500);
        let e = err(&format!(r#"{{"minute": "{long}"}}"#));
        assert!(e.len() < 120, "{e}");
        assert!(e.ends_with("...") , "{e}");
    }
}

both_targets_test! {
    fn ietf_policy_is_precomputed() {
        let c = ok(r#"{"second": 2, "hour": 100}"#);
        assert_eq!(c.default_rule().unwrap().ietf_policy(), r#""second";q=2;w=1, "hour";q=100;w=3600"#);
    }
}
