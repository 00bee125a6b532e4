//! The ECS task metadata endpoint, version 4 (and 3): what a task reads from
//! `ECS_CONTAINER_METADATA_URI_V4` — its container (`GET /v4/<id>`), its task (`/task`: `TaskARN`,
//! `Cluster`, `AvailabilityZone`, `Containers`, …) and their stats — served by the ECS agent at
//! 169.254.170.2 for the world's ECS task (the first `aws.containers` entry with `agent: ecs`;
//! its `session_name` is the task id).
//!
//! Shapes follow the ECS Developer Guide, "Amazon ECS task metadata endpoint version 4" (Fargate
//! examples); values not in the world (image, addresses, sizes) are fixed examples.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Note, Verdict};
use crate::world::WorldModel;
use crate::world::model::{ContainerAgent, ContainerModel};

/// The task metadata routes (v3 and v4, container, task and their stats).
pub(crate) fn router() -> Router<Arc<Shared>> {
    let mut router = Router::new();
    for v in ["v3", "v4"] {
        for tail in ["", "/task", "/stats", "/task/stats"] {
            router = router.route(&format!("/{v}/{{id}}{tail}"), any(handle));
        }
    }
    router
}

/// The task metadata endpoint as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskMetadata;

impl Slice for TaskMetadata {
    fn service(&self) -> Service {
        Service::AwsTaskMetadata
    }
}

fn task(world: &WorldModel) -> Option<&ContainerModel> {
    world.aws.containers.iter().find(|c| c.agent == ContainerAgent::Ecs)
}

/// `/v4/<task id>-<number>` for the world's ECS task, if it has one.
pub(crate) fn container_path(world: &WorldModel) -> Option<String> {
    task(world).map(|t| format!("/v4/{}-{}", t.session_name, 1_000_000_000 + world.seed % 1_000_000_000))
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &TaskMetadata, req.method(), req.uri().path(), answer(&shared, req.method(), req.uri().path()))
}

fn answer(shared: &Shared, method: &Method, path: &str) -> Answer {
    let mut note = Note::new("aws_task_metadata", "TaskMetadata", Verdict::Error);
    let world = &shared.model;
    let own = container_path(world);
    let rest = own.as_deref().and_then(|p| path.strip_prefix(p).or_else(|| path.strip_prefix(&p.replacen("/v4/", "/v3/", 1))));
    let (Some(t), Some(rest)) = (task(world), rest) else {
        note.checks.push(Check::fail("container.id", format!("{path} is not this task's metadata path ({})", own.as_deref().unwrap_or("the world has no ECS task"))));
        return noted(
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/json")], "\"V4 task metadata handler: unable to get task arn from request: unable to get task ARN from request\"")
                .into_response(),
            note,
        );
    };
    if method != Method::GET {
        note.checks.push(Check::fail("container.method", format!("{method} is not GET")));
        return noted((StatusCode::METHOD_NOT_ALLOWED, "").into_response(), note);
    }
    let now = crate::clock::iso8601(shared.clock.now());
    let region = &world.aws.region;
    let account = &world.aws.account_id;
    let cluster = format!("arn:aws:ecs:{region}:{account}:cluster/default");
    let task_arn = format!("arn:aws:ecs:{region}:{account}:task/default/{}", t.session_name);
    let zone = world.aws.ec2.as_ref().map(|e| e.availability_zone.clone()).unwrap_or_else(|| format!("{region}a"));
    let container = json!({
        "DockerId": format!("{}-{}", t.session_name, 1_000_000_000 + world.seed % 1_000_000_000),
        "Name": "app",
        "DockerName": "app",
        "Image": format!("{account}.dkr.ecr.{region}.amazonaws.com/app:latest"),
        "ImageID": "sha256:5a1e4d2b9c3f6e8a7d0b1c2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a",
        "Labels": {
            "com.amazonaws.ecs.cluster": cluster,
            "com.amazonaws.ecs.container-name": "app",
            "com.amazonaws.ecs.task-arn": task_arn,
            "com.amazonaws.ecs.task-definition-family": "app",
            "com.amazonaws.ecs.task-definition-version": "1"
        },
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "Limits": {"CPU": 2},
        "CreatedAt": now,
        "StartedAt": now,
        "Type": "NORMAL",
        "ContainerARN": format!("arn:aws:ecs:{region}:{account}:container/default/{}/0e4b2f6a-9d3c-4b1a-8e7f-6a5b4c3d2e1f", t.session_name),
        "LogDriver": "awslogs",
        "LogOptions": {"awslogs-group": "/ecs/app", "awslogs-region": region, "awslogs-stream": format!("ecs/app/{}", t.session_name)},
        "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.2.106"], "AttachmentIndex": 0, "IPv4SubnetCIDRBlock": "10.0.2.0/24", "PrivateDNSName": "ip-10-0-2-106.ec2.internal", "SubnetGatewayIpv4Address": "10.0.2.1/24"}]
    });
    let body: Value = match rest {
        "" => container,
        "/task" => json!({
            "Cluster": cluster,
            "TaskARN": task_arn,
            "Family": "app",
            "Revision": "1",
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
            "Limits": {"CPU": 0.25, "Memory": 512},
            "PullStartedAt": now,
            "PullStoppedAt": now,
            "AvailabilityZone": zone,
            "LaunchType": "FARGATE",
            "Containers": [container],
            "ClockDrift": {"ClockErrorBound": 0.5, "ReferenceTimestamp": now, "ClockSynchronizationStatus": "SYNCHRONIZED"},
            "EphemeralStorageMetrics": {"Utilized": 261, "Reserved": 20496},
            "VPCID": "vpc-0a1b2c3d4e5f67890"
        }),
        _ => json!({}),
    };
    note.verdict = Verdict::Served;
    note.checks.push(Check::pass("container.id", t.session_name.clone()));
    noted((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response(), note)
}
