//! The catalogue of built-in detectors: their profile names, the labels used in masked output and
//! the nouns used in human summaries. One table so that names never drift between the profile
//! parser, the masker and the audit summary.

/// A built-in detector. The `name()` is what admins write in profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Builtin {
    CreditCard,
    Iban,
    UsSsn,
    Email,
    Phone,
    IpAddress,
    Jwt,
    PrivateKey,
    AwsAccessKey,
    AwsSecretKey,
    AzureStorageKey,
    AzureSasToken,
    GithubToken,
    GitlabToken,
    SlackToken,
    Password,
    PersonName,
    PostalAddress,
    DateOfBirth,
}

/// Name of the pseudo-detector used for values masked by JSON field-name rules.
pub const SENSITIVE_FIELD: &str = "sensitive_field";

impl Builtin {
    /// Every built-in text detector, in priority order (earlier wins when two findings start at the
    /// same place and have the same length).
    pub const ALL: [Builtin; 19] = [
        Builtin::PrivateKey,
        Builtin::Jwt,
        Builtin::AwsAccessKey,
        Builtin::AwsSecretKey,
        Builtin::AzureStorageKey,
        Builtin::AzureSasToken,
        Builtin::GithubToken,
        Builtin::GitlabToken,
        Builtin::SlackToken,
        Builtin::Password,
        Builtin::CreditCard,
        Builtin::Iban,
        Builtin::UsSsn,
        Builtin::Email,
        Builtin::Phone,
        Builtin::IpAddress,
        Builtin::DateOfBirth,
        Builtin::PostalAddress,
        Builtin::PersonName,
    ];

    /// The name used in profiles, counts and findings.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::CreditCard => "credit_card",
            Builtin::Iban => "iban",
            Builtin::UsSsn => "us_ssn",
            Builtin::Email => "email",
            Builtin::Phone => "phone",
            Builtin::IpAddress => "ip_address",
            Builtin::Jwt => "jwt",
            Builtin::PrivateKey => "private_key",
            Builtin::AwsAccessKey => "aws_access_key",
            Builtin::AwsSecretKey => "aws_secret_key",
            Builtin::AzureStorageKey => "azure_storage_key",
            Builtin::AzureSasToken => "azure_sas_token",
            Builtin::GithubToken => "github_token",
            Builtin::GitlabToken => "gitlab_token",
            Builtin::SlackToken => "slack_token",
            Builtin::Password => "password",
            Builtin::PersonName => "person_name",
            Builtin::PostalAddress => "postal_address",
            Builtin::DateOfBirth => "date_of_birth",
        }
    }

    /// Looks a built-in up by its profile name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether the detector finds a secret (a credential) rather than personal data. Used by the
    /// summary to group "keys".
    pub fn is_secret(self) -> bool {
        !matches!(
            self,
            Builtin::CreditCard
                | Builtin::Iban
                | Builtin::UsSsn
                | Builtin::Email
                | Builtin::Phone
                | Builtin::IpAddress
                | Builtin::PersonName
                | Builtin::PostalAddress
                | Builtin::DateOfBirth
        )
    }
}

/// Singular and plural nouns for a detector name, for summaries such as "3 e-mail addresses".
pub fn nouns(name: &str) -> (String, String) {
    let (one, many) = match name {
        "credit_card" => ("credit card number", "credit card numbers"),
        "iban" => ("IBAN", "IBANs"),
        "us_ssn" => ("US SSN", "US SSNs"),
        "email" => ("e-mail address", "e-mail addresses"),
        "phone" => ("phone number", "phone numbers"),
        "ip_address" => ("IP address", "IP addresses"),
        "jwt" => ("JWT", "JWTs"),
        "private_key" => ("private key", "private keys"),
        "aws_access_key" => ("AWS access key id", "AWS access key ids"),
        "aws_secret_key" => ("AWS secret key", "AWS secret keys"),
        "azure_storage_key" => ("Azure storage key", "Azure storage keys"),
        "azure_sas_token" => ("Azure SAS token", "Azure SAS tokens"),
        "github_token" => ("GitHub token", "GitHub tokens"),
        "gitlab_token" => ("GitLab token", "GitLab tokens"),
        "slack_token" => ("Slack token", "Slack tokens"),
        "password" => ("password", "passwords"),
        "person_name" => ("person name", "person names"),
        "postal_address" => ("postal address", "postal addresses"),
        "date_of_birth" => ("date of birth", "dates of birth"),
        SENSITIVE_FIELD => ("sensitive field", "sensitive fields"),
        other => return (format!("{other} match"), format!("{other} matches")),
    };
    (one.to_string(), many.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_name(b.name()), Some(b));
            assert!(seen.insert(b.name()), "duplicate name {}", b.name());
        }
        assert_eq!(Builtin::from_name("creditcard"), None);
    }
}
