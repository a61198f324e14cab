//! Function sandboxes, instance pools and the Lambda Runtime API.
