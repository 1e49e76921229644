//! Where data rests: ECR repositories, S3 buckets and KMS keys.

use crate::iam::PolicyDocument;
use crate::model::{Expr, Tag, cfn_struct};

cfn_struct! {
    pub struct EcrRepository {
        repository_name: String,
        image_tag_mutability: &'static str,
        image_scanning_configuration: ImageScanningConfiguration,
        encryption_configuration: EncryptionConfiguration,
        lifecycle_policy: Option<LifecyclePolicy>,
        empty_on_delete: bool,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct ImageScanningConfiguration {
        scan_on_push: bool,
    }
}

cfn_struct! {
    pub struct EncryptionConfiguration {
        encryption_type: &'static str,
        kms_key: Option<Expr>,
    }
}

cfn_struct! {
    pub struct LifecyclePolicy {
        /// ECR's lifecycle policy JSON, as text.
        lifecycle_policy_text: String,
    }
}

cfn_struct! {
    pub struct EcrReplication {
        replication_configuration: ReplicationConfiguration,
    }
}

cfn_struct! {
    pub struct ReplicationConfiguration {
        rules: Vec<ReplicationRule>,
    }
}

cfn_struct! {
    pub struct ReplicationRule {
        destinations: Vec<ReplicationDestination>,
        repository_filters: Vec<RepositoryFilter>,
    }
}

cfn_struct! {
    pub struct ReplicationDestination {
        region: String,
        registry_id: Expr,
    }
}

cfn_struct! {
    pub struct RepositoryFilter {
        filter: String,
        filter_type: &'static str,
    }
}

cfn_struct! {
    pub struct KmsKey {
        description: String,
        enable_key_rotation: bool,
        key_policy: Option<PolicyDocument>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct KmsAlias {
        alias_name: String,
        target_key_id: Expr,
    }
}

cfn_struct! {
    pub struct Bucket {
        bucket_name: Expr,
        bucket_encryption: BucketEncryption,
        versioning_configuration: VersioningConfiguration,
        public_access_block_configuration: PublicAccessBlock,
        ownership_controls: OwnershipControls,
        logging_configuration: Option<LoggingConfiguration>,
        lifecycle_configuration: Option<LifecycleConfiguration>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct BucketEncryption {
        server_side_encryption_configuration: Vec<ServerSideEncryptionRule>,
    }
}

cfn_struct! {
    pub struct ServerSideEncryptionRule {
        bucket_key_enabled: Option<bool>,
        server_side_encryption_by_default: ServerSideEncryptionByDefault,
    }
}

cfn_struct! {
    pub struct ServerSideEncryptionByDefault {
        #[serde(rename = "SSEAlgorithm")]
        sse_algorithm: &'static str,
        #[serde(rename = "KMSMasterKeyID")]
        kms_master_key_id: Option<Expr>,
    }
}

cfn_struct! {
    pub struct VersioningConfiguration {
        status: &'static str,
    }
}

cfn_struct! {
    pub struct PublicAccessBlock {
        block_public_acls: bool,
        block_public_policy: bool,
        ignore_public_acls: bool,
        restrict_public_buckets: bool,
    }
}

impl PublicAccessBlock {
    pub fn all() -> Self {
        Self {
            block_public_acls: true,
            block_public_policy: true,
            ignore_public_acls: true,
            restrict_public_buckets: true,
        }
    }
}

cfn_struct! {
    pub struct OwnershipControls {
        rules: Vec<OwnershipRule>,
    }
}

cfn_struct! {
    pub struct OwnershipRule {
        object_ownership: &'static str,
    }
}

cfn_struct! {
    pub struct LoggingConfiguration {
        destination_bucket_name: Expr,
        log_file_prefix: String,
    }
}

cfn_struct! {
    pub struct LifecycleConfiguration {
        rules: Vec<LifecycleRule>,
    }
}

cfn_struct! {
    pub struct LifecycleRule {
        id: String,
        status: &'static str,
        expiration_in_days: Option<u32>,
        noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
        abort_incomplete_multipart_upload: Option<AbortIncompleteMultipartUpload>,
    }
}

cfn_struct! {
    pub struct NoncurrentVersionExpiration {
        noncurrent_days: u32,
    }
}

cfn_struct! {
    pub struct AbortIncompleteMultipartUpload {
        days_after_initiation: u32,
    }
}

cfn_struct! {
    pub struct BucketPolicy {
        bucket: Expr,
        policy_document: PolicyDocument,
    }
}
