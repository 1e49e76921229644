//! Typed properties for every resource type haven writes, one module per AWS service family.

pub mod compute;
pub mod delivery;
pub mod dns;
pub mod edge;
pub mod iam;
pub mod network;
pub mod observe;
pub mod storage;

use serde::{Serialize, Serializer};

/// Declares the resource kinds: each variant's properties and its CloudFormation type name.
macro_rules! resource_kinds {
    ($( $variant:ident($ty:ty) = $name:literal, )*) => {
        /// A resource's typed properties; the variant decides the `Type`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Properties {
            $( $variant($ty), )*
        }

        impl Properties {
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $name, )*
                }
            }
        }

        impl Serialize for Properties {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$variant(p) => p.serialize(s), )*
                }
            }
        }

        $(
            impl From<$ty> for Properties {
                fn from(p: $ty) -> Self {
                    Self::$variant(p)
                }
            }
        )*
    };
}

resource_kinds! {
    Vpc(network::Vpc) = "AWS::EC2::VPC",
    Subnet(network::Subnet) = "AWS::EC2::Subnet",
    InternetGateway(network::InternetGateway) = "AWS::EC2::InternetGateway",
    VpcGatewayAttachment(network::VpcGatewayAttachment) = "AWS::EC2::VPCGatewayAttachment",
    Eip(network::Eip) = "AWS::EC2::EIP",
    NatGateway(network::NatGateway) = "AWS::EC2::NatGateway",
    RouteTable(network::RouteTable) = "AWS::EC2::RouteTable",
    Route(network::Route) = "AWS::EC2::Route",
    SubnetRouteTableAssociation(network::SubnetRouteTableAssociation) = "AWS::EC2::SubnetRouteTableAssociation",
    SecurityGroup(network::SecurityGroup) = "AWS::EC2::SecurityGroup",
    SecurityGroupIngress(network::SecurityGroupIngress) = "AWS::EC2::SecurityGroupIngress",
    FlowLog(network::FlowLog) = "AWS::EC2::FlowLog",
    VpcEndpoint(network::VpcEndpoint) = "AWS::EC2::VPCEndpoint",
    LoadBalancer(edge::LoadBalancer) = "AWS::ElasticLoadBalancingV2::LoadBalancer",
    Listener(edge::Listener) = "AWS::ElasticLoadBalancingV2::Listener",
    ListenerRule(edge::ListenerRule) = "AWS::ElasticLoadBalancingV2::ListenerRule",
    TargetGroup(edge::TargetGroup) = "AWS::ElasticLoadBalancingV2::TargetGroup",
    Cluster(compute::Cluster) = "AWS::ECS::Cluster",
    TaskDefinition(compute::TaskDefinition) = "AWS::ECS::TaskDefinition",
    Service(compute::Service) = "AWS::ECS::Service",
    ScalableTarget(compute::ScalableTarget) = "AWS::ApplicationAutoScaling::ScalableTarget",
    ScalingPolicy(compute::ScalingPolicy) = "AWS::ApplicationAutoScaling::ScalingPolicy",
    EcrRepository(storage::EcrRepository) = "AWS::ECR::Repository",
    EcrReplication(storage::EcrReplication) = "AWS::ECR::ReplicationConfiguration",
    KmsKey(storage::KmsKey) = "AWS::KMS::Key",
    KmsAlias(storage::KmsAlias) = "AWS::KMS::Alias",
    LogGroup(observe::LogGroup) = "AWS::Logs::LogGroup",
    Bucket(storage::Bucket) = "AWS::S3::Bucket",
    BucketPolicy(storage::BucketPolicy) = "AWS::S3::BucketPolicy",
    Topic(observe::Topic) = "AWS::SNS::Topic",
    TopicPolicy(observe::TopicPolicy) = "AWS::SNS::TopicPolicy",
    Alarm(observe::Alarm) = "AWS::CloudWatch::Alarm",
    Dashboard(observe::Dashboard) = "AWS::CloudWatch::Dashboard",
    EventRule(observe::EventRule) = "AWS::Events::Rule",
    Role(iam::Role) = "AWS::IAM::Role",
    Policy(iam::Policy) = "AWS::IAM::Policy",
    Group(iam::Group) = "AWS::IAM::Group",
    CodeCommitRepository(delivery::CodeCommitRepository) = "AWS::CodeCommit::Repository",
    CodeConnection(delivery::CodeConnection) = "AWS::CodeConnections::Connection",
    CodeBuildProject(delivery::CodeBuildProject) = "AWS::CodeBuild::Project",
    Pipeline(delivery::Pipeline) = "AWS::CodePipeline::Pipeline",
    HealthCheck(dns::HealthCheck) = "AWS::Route53::HealthCheck",
    RecordSet(dns::RecordSet) = "AWS::Route53::RecordSet",
}

impl Properties {
    /// Whether the resource is an IAM principal or policy (the stack then needs
    /// `CAPABILITY_NAMED_IAM`, as haven names its roles).
    pub fn is_iam(&self) -> bool {
        matches!(self, Self::Role(_) | Self::Policy(_) | Self::Group(_))
    }

    /// Whether the resource holds data (its deletion policy is then written out).
    pub fn is_stateful(&self) -> bool {
        matches!(
            self,
            Self::KmsKey(_)
                | Self::LogGroup(_)
                | Self::Bucket(_)
                | Self::EcrRepository(_)
                | Self::CodeCommitRepository(_)
        )
    }
}
