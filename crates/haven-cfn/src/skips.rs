//! Every checkov check haven skips, with the reason, in one place. A skip is written inline in
//! the resource's `Metadata`; `docs/aws.md` lists each one (a test keeps the two in step).

/// One inline checkov skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    pub id: &'static str,
    pub comment: &'static str,
}

/// Where a skip is applied, written as `docs/aws.md`'s table has it (a test compares them).
#[derive(Debug, Clone, Copy)]
pub struct Listed {
    pub skip: Skip,
    /// The resources (logical ids) it is written on.
    pub resources: &'static str,
    /// When it applies.
    pub when: &'static str,
}

pub const PORT_80_REDIRECT: Skip = Skip {
    id: "CKV_AWS_260",
    comment: "Port 80 is open only so that the HTTP listener can answer every request with a \
              permanent redirect to HTTPS; it forwards nothing to the service.",
};

pub const PORT_80_NO_CERTIFICATE: Skip = Skip {
    id: "CKV_AWS_260",
    comment: "The spec names no certificate (service.load_balancer.certificate_arn), so the \
              service is served over plain HTTP on port 80 by the user's choice; naming a \
              certificate switches the listener to HTTPS and port 80 to a redirect.",
};

pub const HTTP_LISTENER_NO_CERTIFICATE: Skip = Skip {
    id: "CKV_AWS_2",
    comment: "The spec names no certificate (service.load_balancer.certificate_arn), so this \
              listener serves HTTP by the user's choice; naming a certificate adds an HTTPS \
              listener (TLS 1.2+) and turns this one into a redirect.",
};

pub const HTTP_LISTENER_NO_CERTIFICATE_TLS: Skip = Skip {
    id: "CKV_AWS_103",
    comment: "The spec names no certificate (service.load_balancer.certificate_arn), so this \
              listener serves HTTP and has no TLS policy to set; with a certificate the HTTPS \
              listener uses ELBSecurityPolicy-TLS13-1-2-2021-06.",
};

pub const LOG_BUCKET_ACCESS_LOGS: Skip = Skip {
    id: "CKV_AWS_18",
    comment: "This is the region's log bucket: the ALB access logs and the S3 server access \
              logs of the other buckets land here. Logging it into itself would log its own \
              log deliveries without end.",
};

pub const ECR_MUTABLE_TAGS: Skip = Skip {
    id: "CKV_AWS_51",
    comment: "The spec sets registry.immutable_tags = false, so that tags can be pushed again. \
              ECS resolves a tag to its digest when it deploys, so running tasks never change \
              under a re-pushed tag.",
};

pub const ECR_NO_SCAN: Skip = Skip {
    id: "CKV_AWS_163",
    comment: "The spec sets registry.scan_on_push = false: images are not scanned on push, \
              and the Release action's scan gate is off with it; the user scans elsewhere.",
};

pub const ECR_AES256: Skip = Skip {
    id: "CKV_AWS_136",
    comment: "The spec sets registry.encryption = \"aes256\": images are still encrypted at \
              rest (AES-256, keys managed by ECR), without the KMS key's audit trail and \
              revocation.",
};

/// Every skip haven may write, where and when.
pub const ALL: &[Listed] = &[
    Listed {
        skip: PORT_80_REDIRECT,
        resources: "AlbSecurityGroup (network)",
        when: "a certificate is named",
    },
    Listed {
        skip: PORT_80_NO_CERTIFICATE,
        resources: "AlbSecurityGroup (network)",
        when: "no certificate is named",
    },
    Listed {
        skip: HTTP_LISTENER_NO_CERTIFICATE,
        resources: "`<Env>HttpListener` (network)",
        when: "no certificate is named",
    },
    Listed {
        skip: HTTP_LISTENER_NO_CERTIFICATE_TLS,
        resources: "`<Env>HttpListener` (network)",
        when: "no certificate is named",
    },
    Listed {
        skip: LOG_BUCKET_ACCESS_LOGS,
        resources: "LogBucket (network)",
        when: "always",
    },
    Listed {
        skip: ECR_MUTABLE_TAGS,
        resources: "Repository (registry)",
        when: "`registry.immutable_tags = false`",
    },
    Listed {
        skip: ECR_NO_SCAN,
        resources: "Repository (registry)",
        when: "`registry.scan_on_push = false`",
    },
    Listed {
        skip: ECR_AES256,
        resources: "Repository (registry)",
        when: "`registry.encryption = \"aes256\"`",
    },
];
