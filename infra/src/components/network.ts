import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { EnvironmentConfig } from '../config.ts';
import { COMPONENT_TYPES, physicalName } from './naming.ts';

export const PODS_RANGE = 'pods';
export const SERVICES_RANGE = 'services';

/** VPC, subnet with pod/service ranges, Cloud Router + NAT, private services access, API IP. */
export class Network extends pulumi.ComponentResource {
  readonly network: gcp.compute.Network;
  readonly subnet: gcp.compute.Subnetwork;
  readonly privateServicesConnection: gcp.servicenetworking.Connection;
  readonly apiAddress: gcp.compute.GlobalAddress;

  constructor(name: string, cfg: EnvironmentConfig, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.network, name, {}, opts);
    const parent = { parent: this };
    const n = (s: string) => physicalName(cfg, s);

    this.network = new gcp.compute.Network(
      `${name}-vpc`,
      { name: n('vpc'), autoCreateSubnetworks: false, routingMode: 'REGIONAL' },
      parent,
    );
    this.subnet = new gcp.compute.Subnetwork(
      `${name}-subnet`,
      {
        name: n('subnet'),
        region: cfg.region,
        network: this.network.id,
        ipCidrRange: cfg.network.subnetCidr,
        privateIpGoogleAccess: true,
        secondaryIpRanges: [
          { rangeName: PODS_RANGE, ipCidrRange: cfg.network.podsCidr },
          { rangeName: SERVICES_RANGE, ipCidrRange: cfg.network.servicesCidr },
        ],
        logConfig: {
          aggregationInterval: 'INTERVAL_10_MIN',
          flowSampling: 0.5,
          metadata: 'INCLUDE_ALL_METADATA',
        },
      },
      parent,
    );
    const router = new gcp.compute.Router(
      `${name}-router`,
      { name: n('router'), region: cfg.region, network: this.network.id },
      parent,
    );
    new gcp.compute.RouterNat(
      `${name}-nat`,
      {
        name: n('nat'),
        region: cfg.region,
        router: router.name,
        natIpAllocateOption: 'AUTO_ONLY',
        sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
        logConfig: { enable: true, filter: 'ERRORS_ONLY' },
      },
      parent,
    );

    // Private services access: Cloud SQL gets a private IP inside this reserved range.
    const [address = '', prefix = '16'] = cfg.network.privateServicesCidr.split('/');
    const privateServicesRange = new gcp.compute.GlobalAddress(
      `${name}-private-services`,
      {
        name: n('private-services'),
        purpose: 'VPC_PEERING',
        addressType: 'INTERNAL',
        address,
        prefixLength: Number(prefix),
        network: this.network.id,
      },
      parent,
    );
    this.privateServicesConnection = new gcp.servicenetworking.Connection(
      `${name}-private-services`,
      {
        network: this.network.id,
        service: 'servicenetworking.googleapis.com',
        reservedPeeringRanges: [privateServicesRange.name],
      },
      parent,
    );

    // The API's load balancer address; point the environment's DNS record at it.
    this.apiAddress = new gcp.compute.GlobalAddress(
      `${name}-api-ip`,
      { name: n('api-ip'), addressType: 'EXTERNAL', ipVersion: 'IPV4' },
      parent,
    );

    this.registerOutputs({ networkId: this.network.id, subnetId: this.subnet.id });
  }
}
