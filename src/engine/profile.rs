//! Implementation profiles: the spec alone, or what one release of one implementation does.

use std::fmt;
use std::str::FromStr;

/// A release number `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = ProfileError;

    /// Accepts `1.25`, `1.25.0` and `v1.25.0`; a missing patch reads as 0.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ProfileError::BadVersion(text.to_owned());
        let digits = text.strip_prefix('v').unwrap_or(text);
        let mut parts = digits.split('.');
        let mut next = |required: bool| -> Result<u32, ProfileError> {
            match parts.next() {
                Some(part) => part.parse().map_err(|_| bad()),
                None if required => Err(bad()),
                None => Ok(0),
            }
        };
        let version = Version::new(next(true)?, next(true)?, next(false)?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(version)
    }
}

/// Whose behaviour the rules predict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Implementation {
    /// The Gateway API specification alone.
    #[default]
    GatewayApi,
    /// Istio at a given release.
    Istio(Version),
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GatewayApi => f.write_str("gateway-api"),
            Self::Istio(version) => write!(f, "istio@{version}"),
        }
    }
}

impl FromStr for Implementation {
    type Err = ProfileError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('@') {
            None if text == "gateway-api" => Ok(Self::GatewayApi),
            Some(("istio", version)) => Ok(Self::Istio(version.parse()?)),
            None if text == "istio" => Err(ProfileError::MissingVersion(text.to_owned())),
            _ => Err(ProfileError::Unknown(text.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("unknown implementation {0:?}: expected gateway-api or istio@<version>")]
    Unknown(String),
    #[error("implementation {0:?} needs a version, e.g. istio@1.26.0")]
    MissingVersion(String),
    #[error("{0:?} is not a version: expected major.minor.patch, e.g. 1.26.0")]
    BadVersion(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_implementations() {
        let cases = [
            ("gateway-api", Ok(Implementation::GatewayApi)),
            (
                "istio@1.25.0",
                Ok(Implementation::Istio(Version::new(1, 25, 0))),
            ),
            (
                "istio@v1.26",
                Ok(Implementation::Istio(Version::new(1, 26, 0))),
            ),
            ("istio", Err(ProfileError::MissingVersion("istio".into()))),
            ("istio@1.x", Err(ProfileError::BadVersion("1.x".into()))),
            (
                "istio@1.2.3.4",
                Err(ProfileError::BadVersion("1.2.3.4".into())),
            ),
            (
                "envoy@1.0.0",
                Err(ProfileError::Unknown("envoy@1.0.0".into())),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Implementation>(), expected, "{text}");
        }
    }

    #[test]
    fn versions_order_numerically() {
        let older: Version = "1.9.9".parse().unwrap();
        let newer: Version = "1.10.0".parse().unwrap();
        assert!(older < newer);
    }
}
