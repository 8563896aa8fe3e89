#!/usr/bin/env perl
# Writes Meridian's small, deterministic GeoIP2-City-layout test database.
#
#   perl scripts/gen-test-geo.pl geo-data/test-city.mmdb
#   perl scripts/gen-test-geo.pl --variant=alt /tmp/alt.mmdb   # a second, different fixture
#
# Needs Debian's libmaxmind-db-writer-perl. The fixture table is documented in
# geo-data/README.md; the tests in test/geo and test/steering rely on it, so change both together.
use strict;
use warnings;
use utf8;

use MaxMind::DB::Writer::Tree;

my $variant = 'default';
my @args;
for my $arg (@ARGV) {
    if ( $arg =~ /^--variant=(\w+)$/ ) { $variant = $1 }
    else                                 { push @args, $arg }
}
my $out = $args[0] or die "usage: $0 [--variant=default|alt] OUTPUT.mmdb\n";

my %city = (
    frankfurt => [ 'DE', 'EU', 50.11,  8.68,   'Frankfurt' ],
    paris     => [ 'FR', 'EU', 48.86,  2.35,   'Paris' ],
    ashburn   => [ 'US', 'NA', 39.04,  -77.49, 'Ashburn' ],
    singapore => [ 'SG', 'AS', 1.35,   103.82, 'Singapore' ],
    saopaulo  => [ 'BR', 'SA', -23.55, -46.63, 'São Paulo' ],
    sydney    => [ 'AU', 'OC', -33.87, 151.21, 'Sydney' ],
    tokyo     => [ 'JP', 'AS', 35.68,  139.69, 'Tokyo' ],
);

# network => city key, or a hash for partial records.
my @networks = $variant eq 'alt'
    ? (
    # The alternative fixture moves 198.51.100.0/24 to Tokyo and drops everything else but one
    # range, so a hot-reload test can see that new data is being served.
    [ '198.51.100.0/24', 'tokyo' ],
    [ '192.0.2.0/24',    'sydney' ],
    )
    : (
    [ '192.0.2.0/25',    'frankfurt' ],
    [ '192.0.2.128/25',  'paris' ],
    [ '198.51.100.0/24', 'ashburn' ],
    [ '203.0.113.0/24',  'singapore' ],
    [ '100.64.0.0/16',   'saopaulo' ],
    [ '100.66.0.0/20',   'sydney' ],
    [ '2001:db8:1::/48', 'frankfurt' ],
    [ '2001:db8:2::/48', 'ashburn' ],
    [ '2001:db8:3::/48', 'singapore' ],
    [ '2001:db8:4::/64', 'paris' ],

    # A country but no continent and no coordinates: continent derivation, unknown coordinates.
    [ '100.65.0.0/16', { country => { iso_code => 'JP' } } ],

    # Only a registered country (GeoIP2 fallback field), no location.
    [ '100.67.0.0/24', { registered_country => { iso_code => 'CA' } } ],
    );

my %types = (
    country            => 'map',
    registered_country => 'map',
    continent          => 'map',
    location           => 'map',
    city               => 'map',
    names              => 'map',
    iso_code           => 'utf8_string',
    code               => 'utf8_string',
    en                 => 'utf8_string',
    latitude           => 'double',
    longitude          => 'double',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,
    record_size              => 24,
    database_type            => $variant eq 'alt' ? 'Meridian-Test-City-Alt' : 'Meridian-Test-City',
    languages                => ['en'],
    description              => { en => "Meridian test geolocation fixture ($variant)" },
    map_key_type_callback    => sub { $types{ $_[0] } },
    remove_reserved_networks => 0,
    alias_ipv6_to_ipv4       => 1,
);
# A fixed build time keeps the output byte-for-byte reproducible (2026-01-01T00:00:00Z).
$tree->_set_build_epoch(1767225600);

for my $entry (@networks) {
    my ( $network, $what ) = @$entry;
    my $record;
    if ( ref $what eq 'HASH' ) {
        $record = $what;
    }
    else {
        my ( $country, $continent, $lat, $lon, $name ) = @{ $city{$what} };
        $record = {
            country   => { iso_code => $country },
            continent => { code     => $continent },
            location  => { latitude => $lat, longitude => $lon },
            city      => { names    => { en => $name } },
        };
    }
    $tree->insert_network( $network, $record );
}

open my $fh, '>:raw', "$out.tmp" or die "cannot write $out.tmp: $!\n";
$tree->write_tree($fh);
close $fh or die "cannot close $out.tmp: $!\n";
rename "$out.tmp", $out or die "cannot rename to $out: $!\n";
print "wrote $out ($variant)\n";
