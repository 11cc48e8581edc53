//! Store URLs: turns what a user writes for `--store`/`--state` or a runbook's `stores:`
//! entry (`s3://bucket/prefix`, `file:///abs/path` or a plain path) into a
//! `StoreConfig`, refusing what cannot name a store.

use std::path::PathBuf;

use super::{S3Config, StoreConfig, StoreError};

const ACCEPTED: &str = "use s3://bucket[/prefix], file:///absolute/path or a local path";

/// Parses a store URL. S3 URLs take their region and endpoint from the standard AWS
/// environment; path-style addressing is used when `AWS_ENDPOINT_URL` or
/// `AWS_ENDPOINT_URL_S3` points the SDK at an S3-compatible store.
pub fn parse_store_url(s: &str) -> Result<StoreConfig, StoreError> {
    let custom_endpoint = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    parse(s, custom_endpoint)
}

fn parse(s: &str, custom_endpoint: bool) -> Result<StoreConfig, StoreError> {
    if s.is_empty() {
        return Err(invalid(s, "it is empty"));
    }
    if let Some(rest) = s.strip_prefix("s3://") {
        return parse_s3(s, rest, custom_endpoint);
    }
    if let Some(rest) = s.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(invalid(
                s,
                "file urls need an absolute path and no host (file:///absolute/path)",
            ));
        }
        return Ok(StoreConfig::Fs {
            root: PathBuf::from(rest),
        });
    }
    if let Some((scheme, _)) = s.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return Err(invalid(
            s,
            &format!("the scheme `{scheme}` is not supported"),
        ));
    }
    Ok(StoreConfig::Fs {
        root: PathBuf::from(s),
    })
}

fn parse_s3(s: &str, rest: &str, custom_endpoint: bool) -> Result<StoreConfig, StoreError> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket(s, bucket)?;
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if !trimmed.is_empty()
        && trimmed
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(invalid(
            s,
            &format!("the prefix `{prefix}` has an empty, `.` or `..` segment"),
        ));
    }
    let prefix = if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    };
    Ok(StoreConfig::S3(S3Config {
        bucket: bucket.to_string(),
        prefix,
        region: None,
        endpoint: None,
        path_style: custom_endpoint,
        checksum_when_required: false,
    }))
}

fn check_bucket(s: &str, bucket: &str) -> Result<(), StoreError> {
    if bucket.is_empty() {
        return Err(invalid(s, "the bucket name is missing"));
    }
    let allowed = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&bucket.len())
        || !allowed
        || !ends_ok(bucket.chars().next())
        || !ends_ok(bucket.chars().last())
    {
        return Err(invalid(
            s,
            &format!(
                "the bucket name `{bucket}` must be 3-63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit"
            ),
        ));
    }
    Ok(())
}

fn invalid(s: &str, why: &str) -> StoreError {
    StoreError::Config(format!("invalid store url `{s}`: {why}; {ACCEPTED}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, prefix: &str, path_style: bool) -> StoreConfig {
        StoreConfig::S3(S3Config {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            region: None,
            endpoint: None,
            path_style,
            checksum_when_required: false,
        })
    }

    fn error(s: &str) -> String {
        match parse(s, false) {
            Err(StoreError::Config(message)) => message,
            other => panic!("expected a config error for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn s3_urls_with_and_without_a_prefix() {
        assert_eq!(
            parse("s3://backups", false).unwrap(),
            s3("backups", "", false)
        );
        assert_eq!(
            parse("s3://backups/", false).unwrap(),
            s3("backups", "", false)
        );
        assert_eq!(
            parse("s3://backups/prod/eu", false).unwrap(),
            s3("backups", "prod/eu/", false)
        );
        assert_eq!(
            parse("s3://my.bucket-1/prod/", false).unwrap(),
            s3("my.bucket-1", "prod/", false)
        );
    }

    #[test]
    fn a_custom_endpoint_selects_path_style() {
        assert_eq!(
            parse("s3://backups/x", true).unwrap(),
            s3("backups", "x/", true)
        );
    }

    #[test]
    fn bad_bucket_names_are_refused() {
        for url in [
            "s3://",
            "s3:///prefix",
            "s3://ab",
            "s3://Backups",
            "s3://under_score",
            "s3://-leading",
            "s3://trailing.",
            &format!("s3://{}", "a".repeat(64)),
        ] {
            let message = error(url);
            assert!(message.contains("bucket name"), "{url}: {message}");
            assert!(message.contains("s3://bucket[/prefix]"), "{url}: {message}");
        }
        assert!(parse(&format!("s3://{}", "a".repeat(63)), false).is_ok());
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for url in ["s3://backups//x", "s3://backups/a/../b", "s3://backups/./a"] {
            assert!(error(url).contains("prefix"), "{url}");
        }
    }

    #[test]
    fn file_urls_and_plain_paths() {
        assert_eq!(
            parse("file:///var/backups", false).unwrap(),
            StoreConfig::Fs {
                root: PathBuf::from("/var/backups")
            }
        );
        assert_eq!(
            parse("/var/backups", false).unwrap(),
            StoreConfig::Fs {
                root: PathBuf::from("/var/backups")
            }
        );
        assert_eq!(
            parse("state/runs", false).unwrap(),
            StoreConfig::Fs {
                root: PathBuf::from("state/runs")
            }
        );
        assert!(error("file://host/var").contains("absolute path"));
        assert!(error("file://relative").contains("absolute path"));
    }

    #[test]
    fn other_schemes_and_empty_urls_are_refused() {
        let message = error("gs://bucket/x");
        assert!(message.contains("scheme `gs`"), "{message}");
        assert!(message.contains("file:///absolute/path"), "{message}");
        assert!(error("https://s3.amazonaws.com/b").contains("scheme `https`"));
        assert!(error("").contains("empty"));
    }
}
