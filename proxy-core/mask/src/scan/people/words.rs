//! Word lists for addresses and dates of birth: street types (USPS Publication 28 suffixes
//! and the usual German, Dutch, French, Italian and Spanish ones), US state codes, month names
//! and birth anchors. All lower-case ASCII or UTF-8, looked up with `match` on a stack buffer.

/// Street-type words that end an English street name (`Main Street`, `Elm St.`): the strong
/// ones (see [`is_strong_suffix`]) and those that also name other things (`Hill`, `Park`).
pub(crate) fn is_en_suffix(w: &[u8]) -> bool {
    is_strong_suffix(w)
        || matches!(
            w,
            b"av"
                | b"garden"
                | b"hill"
                | b"hills"
                | b"view"
                | b"views"
                | b"walk"
                | b"loop"
                | b"path"
                | b"pike"
                | b"point"
                | b"points"
                | b"ridge"
                | b"ridges"
                | b"run"
                | b"pass"
                | b"crossing"
                | b"common"
                | b"commons"
                | b"green"
                | b"greens"
                | b"heights"
                | b"park"
                | b"parks"
                | b"branch"
                | b"bridge"
                | b"brook"
                | b"brooks"
                | b"burg"
                | b"burgs"
                | b"bypass"
                | b"camp"
                | b"canyon"
                | b"cape"
                | b"center"
                | b"centre"
                | b"centers"
                | b"circles"
                | b"cliff"
                | b"cliffs"
                | b"club"
                | b"corner"
                | b"corners"
                | b"course"
                | b"courts"
                | b"cove"
                | b"coves"
                | b"creek"
                | b"crest"
                | b"crossroad"
                | b"curve"
                | b"dale"
                | b"dam"
                | b"divide"
                | b"drives"
                | b"estate"
                | b"estates"
                | b"extension"
                | b"extensions"
                | b"fall"
                | b"falls"
                | b"ferry"
                | b"field"
                | b"fields"
                | b"flat"
                | b"flats"
                | b"ford"
                | b"fords"
                | b"forest"
                | b"forge"
                | b"forges"
                | b"fork"
                | b"forks"
                | b"fort"
                | b"gateway"
                | b"glen"
                | b"glens"
                | b"groves"
                | b"harbor"
                | b"harbors"
                | b"harbour"
                | b"haven"
                | b"hollow"
                | b"inlet"
                | b"island"
                | b"islands"
                | b"isle"
                | b"junction"
                | b"junctions"
                | b"key"
                | b"keys"
                | b"knoll"
                | b"knolls"
                | b"lake"
                | b"lakes"
                | b"land"
                | b"landing"
                | b"light"
                | b"lights"
                | b"loaf"
                | b"lock"
                | b"locks"
                | b"lodge"
                | b"mall"
                | b"manor"
                | b"manors"
                | b"meadow"
                | b"meadows"
                | b"mill"
                | b"mills"
                | b"mission"
                | b"motorway"
                | b"mount"
                | b"mountain"
                | b"mountains"
                | b"neck"
                | b"orchard"
                | b"oval"
                | b"overpass"
                | b"parkways"
                | b"passage"
                | b"pine"
                | b"pines"
                | b"plain"
                | b"plains"
                | b"port"
                | b"ports"
                | b"prairie"
                | b"radial"
                | b"ramp"
                | b"ranch"
                | b"rapid"
                | b"rapids"
                | b"rest"
                | b"river"
                | b"roads"
                | b"route"
                | b"shoal"
                | b"shoals"
                | b"shore"
                | b"shores"
                | b"skyway"
                | b"spring"
                | b"springs"
                | b"spur"
                | b"spurs"
                | b"squares"
                | b"station"
                | b"stream"
                | b"streets"
                | b"summit"
                | b"throughway"
                | b"trace"
                | b"track"
                | b"trafficway"
                | b"trailer"
                | b"tunnel"
                | b"underpass"
                | b"union"
                | b"unions"
                | b"valley"
                | b"valleys"
                | b"viaduct"
                | b"village"
                | b"villages"
                | b"ville"
                | b"vista"
                | b"walks"
                | b"wall"
                | b"ways"
                | b"well"
                | b"wells"
                | b"yard"
                | b"yards"
        )
}

/// Street types that are seldom anything else, so `12 Elm Street` counts without a town after
/// it (`6 Pack Light` does not).
pub(crate) fn is_strong_suffix(w: &[u8]) -> bool {
    matches!(
        w,
        b"street"
            | b"st"
            | b"road"
            | b"rd"
            | b"avenue"
            | b"ave"
            | b"lane"
            | b"ln"
            | b"drive"
            | b"dr"
            | b"boulevard"
            | b"blvd"
            | b"court"
            | b"ct"
            | b"place"
            | b"pl"
            | b"way"
            | b"close"
            | b"crescent"
            | b"cres"
            | b"terrace"
            | b"ter"
            | b"parkway"
            | b"pkwy"
            | b"highway"
            | b"hwy"
            | b"square"
            | b"sq"
            | b"circle"
            | b"cir"
            | b"trail"
            | b"trl"
            | b"grove"
            | b"gardens"
            | b"mews"
            | b"row"
            | b"plaza"
            | b"expressway"
            | b"freeway"
            | b"turnpike"
            | b"causeway"
            | b"stravenue"
            | b"broadway"
            | b"parade"
            | b"embankment"
            | b"wharf"
            | b"quay"
            | b"alley"
    )
}

/// Endings of German and Dutch street names written as one word before the house number
/// (`Hauptstraße 5`, `Bahnhofstr. 12`, `Kerkstraat 3`, `Julianalaan 7`).
pub(crate) fn has_glued_suffix(w: &[u8]) -> bool {
    const ENDS: &[&[u8]] = &[
        "straße".as_bytes(),
        b"strasse",
        b"str.",
        b"str",
        b"weg",
        b"platz",
        b"allee",
        b"gasse",
        b"ring",
        b"damm",
        b"ufer",
        b"steig",
        b"pfad",
        b"chaussee",
        b"markt",
        b"straat",
        b"laan",
        b"baan",
        b"boulevard",
        b"plantsoen",
        b"hof",
        b"plein",
        b"gracht",
        b"kade",
        b"singel",
        b"dijk",
        b"dreef",
        b"hof",
        b"pad",
        b"steeg",
        b"wal",
        "brücke".as_bytes(),
        b"bruecke",
        b"vej",
        b"gatan",
        b"gata",
        b"gade",
        b"veien",
        b"vegen",
    ];
    ENDS.iter().any(|e| w.len() > e.len() + 1 && w.ends_with(e))
        || matches!(
            w,
            b"allee" | b"weg" | b"platz" | b"ring" | b"markt" | b"straat" | b"laan" | b"plein"
        )
        || w == "straße".as_bytes()
}

/// Words that start a street name before the house number (`Via Roma 12`, `Calle Mayor 5`).
pub(crate) fn is_prefix_type(w: &[u8]) -> bool {
    matches!(
        w,
        b"via"
            | b"viale"
            | b"piazza"
            | b"corso"
            | b"calle"
            | b"avenida"
            | b"rua"
            | b"plaza"
            | b"paseo"
            | b"carrer"
            | b"ulica"
            | b"ul."
            | b"strada"
            | b"largo"
            | b"travessa"
            | b"am"
            | b"an"
            | b"auf"
            | b"im"
            | b"zum"
            | b"zur"
            | b"unter"
    )
}

/// French, Spanish and Portuguese street types written after the house number
/// (`12 rue de la Paix`, `3 avenue Foch`, `5 bd Haussmann`).
pub(crate) fn is_fr_type(w: &[u8]) -> bool {
    w == "allée".as_bytes()
        || matches!(
            w,
            b"rue"
                | b"avenue"
                | b"av"
                | b"bd"
                | b"boulevard"
                | b"chemin"
                | b"allee"
                | b"impasse"
                | b"place"
                | b"quai"
                | b"route"
                | b"cours"
                | b"square"
                | b"passage"
                | b"voie"
                | b"faubourg"
                | b"rte"
                | b"ch"
                | b"all"
                | b"imp"
                | b"pl"
                | b"sentier"
                | b"rond-point"
                | b"hameau"
                | b"cite"
                | b"lieu-dit"
                | b"via"
                | b"calle"
                | b"rua"
        )
}

/// Words that may sit between the house number and the rest of an address line.
pub(crate) fn is_unit(w: &[u8]) -> bool {
    matches!(
        w,
        b"apt"
            | b"apt."
            | b"apartment"
            | b"suite"
            | b"ste"
            | b"ste."
            | b"unit"
            | b"flat"
            | b"floor"
            | b"fl"
            | b"room"
            | b"rm"
            | b"bldg"
            | b"building"
            | b"#"
    )
}

pub(crate) fn is_us_state(w: &[u8]) -> bool {
    matches!(
        w,
        b"AL"
            | b"AK"
            | b"AZ"
            | b"AR"
            | b"CA"
            | b"CO"
            | b"CT"
            | b"DE"
            | b"DC"
            | b"FL"
            | b"GA"
            | b"HI"
            | b"ID"
            | b"IL"
            | b"IN"
            | b"IA"
            | b"KS"
            | b"KY"
            | b"LA"
            | b"ME"
            | b"MD"
            | b"MA"
            | b"MI"
            | b"MN"
            | b"MS"
            | b"MO"
            | b"MT"
            | b"NE"
            | b"NV"
            | b"NH"
            | b"NJ"
            | b"NM"
            | b"NY"
            | b"NC"
            | b"ND"
            | b"OH"
            | b"OK"
            | b"OR"
            | b"PA"
            | b"RI"
            | b"SC"
            | b"SD"
            | b"TN"
            | b"TX"
            | b"UT"
            | b"VT"
            | b"VA"
            | b"WA"
            | b"WV"
            | b"WI"
            | b"WY"
            | b"PR"
            | b"GU"
            | b"VI"
            | b"AS"
            | b"MP"
            | b"AA"
            | b"AE"
            | b"AP"
    )
}

/// Month names and abbreviations (English, German, French, Dutch, Spanish, Italian), lower-case.
pub(crate) fn is_month(w: &[u8]) -> bool {
    let w = w.strip_suffix(b".").unwrap_or(w);
    matches!(
        w,
        b"january"
            | b"february"
            | b"march"
            | b"april"
            | b"may"
            | b"june"
            | b"july"
            | b"august"
            | b"september"
            | b"october"
            | b"november"
            | b"december"
            | b"jan"
            | b"feb"
            | b"mar"
            | b"apr"
            | b"jun"
            | b"jul"
            | b"aug"
            | b"sep"
            | b"sept"
            | b"oct"
            | b"nov"
            | b"dec"
            | b"januar"
            | b"februar"
            | b"mai"
            | b"juni"
            | b"juli"
            | b"oktober"
            | b"dezember"
            | b"janvier"
            | b"mars"
            | b"avril"
            | b"juin"
            | b"juillet"
            | b"septembre"
            | b"octobre"
            | b"novembre"
            | b"janv"
            | b"juil"
            | b"januari"
            | b"februari"
            | b"maart"
            | b"mei"
            | b"augustus"
            | b"enero"
            | b"febrero"
            | b"marzo"
            | b"abril"
            | b"mayo"
            | b"junio"
            | b"julio"
            | b"agosto"
            | b"septiembre"
            | b"octubre"
            | b"noviembre"
            | b"diciembre"
            | b"gennaio"
            | b"febbraio"
            | b"aprile"
            | b"maggio"
            | b"giugno"
            | b"luglio"
            | b"settembre"
            | b"ottobre"
            | b"dicembre"
            | b"okt"
            | b"dez"
            | b"mrt"
    ) || w == "märz".as_bytes()
        || w == "février".as_bytes()
        || w == "août".as_bytes()
        || w == "décembre".as_bytes()
        || w == "févr".as_bytes()
}
