"""The neutral layer between the services and the faces (REST in ``sidecar.http``, JSON-RPC in
``sidecar.rpc``): the app keys, the request checks and answer shapes both faces share, and the
table of operations both derive their routes and methods from. It imports services and below,
never a face, so neither face imports the other."""
