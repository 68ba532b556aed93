"""The time zones `toDateInZone` lowers: where Go's zone database and DuckDB's ICU agree.

Go's `time.LoadLocation` reads the IANA database of the host (Loki's image carries the
system tzdata); DuckDB's `timezone()` uses the ICU data built into DuckDB. For the names
below the two give the same UTC offset at every instant sampled every ~3 days from 1800 to
2100 (tzdata 2025b against DuckDB 2.0's ICU; `tests/logql2sql/test_template_zones_decimals.py`
checks them again where a system tzdata is present). Names left out differ somewhere (ICU
merges zones whose pre-1970 history tzdata keeps apart, e.g. `Europe/Oslo` before 1965,
and some post-2026 rules differ), so a template naming them is refused rather than given
other offsets than Go's.
"""

_NAMES = """
    Africa/Abidjan Africa/Algiers Africa/Asmera Africa/Bissau Africa/Cairo Africa/Ceuta
    Africa/Johannesburg Africa/Juba Africa/Khartoum Africa/Lagos Africa/Maputo Africa/Monrovia
    Africa/Nairobi Africa/Ndjamena Africa/Sao_Tome Africa/Timbuktu Africa/Tripoli Africa/Tunis
    Africa/Windhoek America/Adak America/Anchorage America/Araguaina
    America/Argentina/Buenos_Aires America/Argentina/Catamarca America/Argentina/ComodRivadavia
    America/Argentina/Cordoba America/Argentina/Jujuy America/Argentina/La_Rioja
    America/Argentina/Mendoza America/Argentina/Rio_Gallegos America/Argentina/Salta
    America/Argentina/San_Juan America/Argentina/San_Luis America/Argentina/Tucuman
    America/Argentina/Ushuaia America/Asuncion America/Atka America/Bahia America/Bahia_Banderas
    America/Barbados America/Belem America/Belize America/Boa_Vista America/Bogota America/Boise
    America/Buenos_Aires America/Cambridge_Bay America/Campo_Grande America/Cancun
    America/Caracas America/Catamarca America/Cayenne America/Chicago America/Chihuahua
    America/Ciudad_Juarez America/Coral_Harbour America/Cordoba America/Costa_Rica
    America/Coyhaique America/Cuiaba America/Danmarkshavn America/Dawson America/Dawson_Creek
    America/Denver America/Detroit America/Eirunepe America/El_Salvador America/Fort_Nelson
    America/Fort_Wayne America/Fortaleza America/Glace_Bay America/Godthab America/Goose_Bay
    America/Grand_Turk America/Guatemala America/Guayaquil America/Guyana America/Halifax
    America/Havana America/Hermosillo America/Indiana/Indianapolis America/Indiana/Knox
    America/Indiana/Marengo America/Indiana/Petersburg America/Indiana/Tell_City
    America/Indiana/Vevay America/Indiana/Vincennes America/Indiana/Winamac America/Indianapolis
    America/Iqaluit America/Jamaica America/Jujuy America/Juneau America/Kentucky/Louisville
    America/Kentucky/Monticello America/Knox_IN America/Kralendijk America/La_Paz America/Lima
    America/Los_Angeles America/Louisville America/Lower_Princes America/Maceio America/Managua
    America/Manaus America/Marigot America/Martinique America/Matamoros America/Mazatlan
    America/Mendoza America/Menominee America/Merida America/Metlakatla America/Mexico_City
    America/Miquelon America/Moncton America/Monterrey America/Montevideo America/Montreal
    America/New_York America/Nipigon America/Nome America/Noronha America/North_Dakota/Beulah
    America/North_Dakota/Center America/North_Dakota/New_Salem America/Nuuk America/Ojinaga
    America/Panama America/Pangnirtung America/Paramaribo America/Phoenix America/Port-au-Prince
    America/Porto_Acre America/Porto_Velho America/Puerto_Rico America/Punta_Arenas
    America/Rankin_Inlet America/Recife America/Regina America/Resolute America/Rio_Branco
    America/Rosario America/Santarem America/Santiago America/Santo_Domingo America/Sao_Paulo
    America/Scoresbysund America/Shiprock America/Sitka America/St_Barthelemy America/St_Johns
    America/Swift_Current America/Tegucigalpa America/Thule America/Thunder_Bay America/Toronto
    America/Virgin America/Whitehorse America/Yakutat Antarctica/Casey Antarctica/Davis
    Antarctica/Macquarie Antarctica/Mawson Antarctica/Palmer Antarctica/Rothera
    Antarctica/South_Pole Antarctica/Troll Antarctica/Vostok Arctic/Longyearbyen Asia/Almaty
    Asia/Amman Asia/Anadyr Asia/Aqtau Asia/Aqtobe Asia/Ashgabat Asia/Ashkhabad Asia/Atyrau
    Asia/Baghdad Asia/Baku Asia/Bangkok Asia/Barnaul Asia/Beirut Asia/Bishkek Asia/Calcutta
    Asia/Chita Asia/Choibalsan Asia/Chongqing Asia/Chungking Asia/Colombo Asia/Dacca
    Asia/Damascus Asia/Dhaka Asia/Dili Asia/Dubai Asia/Dushanbe Asia/Famagusta Asia/Gaza
    Asia/Harbin Asia/Hebron Asia/Ho_Chi_Minh Asia/Hong_Kong Asia/Hovd Asia/Irkutsk Asia/Istanbul
    Asia/Jakarta Asia/Jayapura Asia/Jerusalem Asia/Kabul Asia/Kamchatka Asia/Karachi
    Asia/Kashgar Asia/Kathmandu Asia/Katmandu Asia/Khandyga Asia/Kolkata Asia/Krasnoyarsk
    Asia/Kuching Asia/Macao Asia/Macau Asia/Magadan Asia/Makassar Asia/Manila Asia/Nicosia
    Asia/Novokuznetsk Asia/Novosibirsk Asia/Omsk Asia/Oral Asia/Pontianak Asia/Pyongyang
    Asia/Qatar Asia/Qostanay Asia/Qyzylorda Asia/Rangoon Asia/Riyadh Asia/Saigon Asia/Sakhalin
    Asia/Samarkand Asia/Seoul Asia/Shanghai Asia/Singapore Asia/Srednekolymsk Asia/Taipei
    Asia/Tashkent Asia/Tbilisi Asia/Tel_Aviv Asia/Thimbu Asia/Thimphu Asia/Tokyo Asia/Tomsk
    Asia/Ujung_Pandang Asia/Ulaanbaatar Asia/Ulan_Bator Asia/Urumqi Asia/Ust-Nera
    Asia/Vladivostok Asia/Yakutsk Asia/Yangon Asia/Yekaterinburg Asia/Yerevan Atlantic/Azores
    Atlantic/Bermuda Atlantic/Canary Atlantic/Cape_Verde Atlantic/Faeroe Atlantic/Faroe
    Atlantic/Jan_Mayen Atlantic/Madeira Atlantic/South_Georgia Atlantic/Stanley Australia/ACT
    Australia/Adelaide Australia/Brisbane Australia/Broken_Hill Australia/Canberra
    Australia/Currie Australia/Darwin Australia/Eucla Australia/Hobart Australia/LHI
    Australia/Lindeman Australia/Lord_Howe Australia/Melbourne Australia/NSW Australia/North
    Australia/Perth Australia/Queensland Australia/South Australia/Sydney Australia/Tasmania
    Australia/Victoria Australia/West Australia/Yancowinna Brazil/Acre Brazil/DeNoronha
    Brazil/East Brazil/West CST6CDT Canada/Atlantic Canada/Eastern Canada/Newfoundland
    Canada/Saskatchewan Canada/Yukon Chile/Continental Chile/EasterIsland Cuba EST5EDT Egypt
    Etc/GMT Etc/GMT+0 Etc/GMT+1 Etc/GMT+10 Etc/GMT+11 Etc/GMT+12 Etc/GMT+2 Etc/GMT+3 Etc/GMT+4
    Etc/GMT+5 Etc/GMT+6 Etc/GMT+7 Etc/GMT+8 Etc/GMT+9 Etc/GMT-0 Etc/GMT-1 Etc/GMT-10 Etc/GMT-11
    Etc/GMT-12 Etc/GMT-13 Etc/GMT-14 Etc/GMT-2 Etc/GMT-3 Etc/GMT-4 Etc/GMT-5 Etc/GMT-6 Etc/GMT-7
    Etc/GMT-8 Etc/GMT-9 Etc/GMT0 Etc/Greenwich Etc/UCT Etc/UTC Etc/Universal Etc/Zulu
    Europe/Andorra Europe/Astrakhan Europe/Athens Europe/Belfast Europe/Belgrade Europe/Berlin
    Europe/Bratislava Europe/Brussels Europe/Bucharest Europe/Budapest Europe/Busingen
    Europe/Gibraltar Europe/Helsinki Europe/Istanbul Europe/Kaliningrad Europe/Kiev Europe/Kirov
    Europe/Kyiv Europe/Lisbon Europe/London Europe/Madrid Europe/Malta Europe/Mariehamn
    Europe/Minsk Europe/Moscow Europe/Nicosia Europe/Paris Europe/Podgorica Europe/Prague
    Europe/Riga Europe/Rome Europe/Samara Europe/San_Marino Europe/Saratov Europe/Simferopol
    Europe/Sofia Europe/Tallinn Europe/Tirane Europe/Ulyanovsk Europe/Uzhgorod Europe/Vatican
    Europe/Vienna Europe/Vilnius Europe/Volgograd Europe/Warsaw Europe/Zaporozhye Europe/Zurich
    GB GB-Eire GMT GMT+0 GMT-0 GMT0 Greenwich Hongkong Iceland Indian/Chagos Indian/Maldives
    Indian/Mauritius Israel Jamaica Japan Kwajalein Libya MST7MDT Mexico/BajaSur Mexico/General
    NZ NZ-CHAT Navajo PRC PST8PDT Pacific/Apia Pacific/Auckland Pacific/Bougainville
    Pacific/Chatham Pacific/Easter Pacific/Efate Pacific/Enderbury Pacific/Fakaofo Pacific/Fiji
    Pacific/Galapagos Pacific/Gambier Pacific/Guadalcanal Pacific/Guam Pacific/Honolulu
    Pacific/Johnston Pacific/Kanton Pacific/Kiritimati Pacific/Kosrae Pacific/Kwajalein
    Pacific/Marquesas Pacific/Nauru Pacific/Niue Pacific/Norfolk Pacific/Noumea
    Pacific/Pago_Pago Pacific/Palau Pacific/Pitcairn Pacific/Ponape Pacific/Port_Moresby
    Pacific/Rarotonga Pacific/Samoa Pacific/Tahiti Pacific/Tarawa Pacific/Tongatapu Pacific/Truk
    Pacific/Yap Poland Portugal ROC ROK Singapore Turkey UCT US/Alaska US/Aleutian US/Arizona
    US/Central US/East-Indiana US/Eastern US/Hawaii US/Indiana-Starke US/Michigan US/Mountain
    US/Pacific US/Samoa UTC Universal W-SU Zulu
"""
ZONES = frozenset(_NAMES.split())
"""IANA names `toDateInZone` lowers with DuckDB's `timezone()`."""

_OTHER = """
    Africa/Accra Africa/Addis_Ababa Africa/Asmara Africa/Bamako Africa/Bangui Africa/Banjul
    Africa/Blantyre Africa/Brazzaville Africa/Bujumbura Africa/Casablanca Africa/Conakry
    Africa/Dakar Africa/Dar_es_Salaam Africa/Djibouti Africa/Douala Africa/El_Aaiun
    Africa/Freetown Africa/Gaborone Africa/Harare Africa/Kampala Africa/Kigali Africa/Kinshasa
    Africa/Libreville Africa/Lome Africa/Luanda Africa/Lubumbashi Africa/Lusaka Africa/Malabo
    Africa/Maseru Africa/Mbabane Africa/Mogadishu Africa/Niamey Africa/Nouakchott
    Africa/Ouagadougou Africa/Porto-Novo America/Anguilla America/Antigua America/Aruba
    America/Atikokan America/Blanc-Sablon America/Cayman America/Creston America/Curacao
    America/Dominica America/Edmonton America/Ensenada America/Grenada America/Guadeloupe
    America/Inuvik America/Montserrat America/Nassau America/Port_of_Spain America/Rainy_River
    America/Santa_Isabel America/St_Kitts America/St_Lucia America/St_Thomas America/St_Vincent
    America/Tijuana America/Tortola America/Vancouver America/Winnipeg America/Yellowknife
    Antarctica/DumontDUrville Antarctica/McMurdo Antarctica/Syowa Asia/Aden Asia/Bahrain
    Asia/Brunei Asia/Kuala_Lumpur Asia/Kuwait Asia/Muscat Asia/Phnom_Penh Asia/Tehran
    Asia/Vientiane Atlantic/Reykjavik Atlantic/St_Helena CET Canada/Central Canada/Mountain
    Canada/Pacific EET EST Eire Europe/Amsterdam Europe/Chisinau Europe/Copenhagen Europe/Dublin
    Europe/Guernsey Europe/Isle_of_Man Europe/Jersey Europe/Ljubljana Europe/Luxembourg
    Europe/Monaco Europe/Oslo Europe/Sarajevo Europe/Skopje Europe/Stockholm Europe/Tiraspol
    Europe/Vaduz Europe/Zagreb Factory HST Indian/Antananarivo Indian/Christmas Indian/Cocos
    Indian/Comoro Indian/Kerguelen Indian/Mahe Indian/Mayotte Indian/Reunion Iran MET MST
    Mexico/BajaNorte Pacific/Chuuk Pacific/Funafuti Pacific/Majuro Pacific/Midway
    Pacific/Pohnpei Pacific/Saipan Pacific/Wake Pacific/Wallis WET localtime
"""
OTHER_ZONES = frozenset(_OTHER.split())
"""The rest of tzdata 2025b's names: Go loads them, but ICU's offsets differ somewhere."""


def go_zone(name: str) -> str | None:
    """The zone Go's `time.LoadLocation(name)` gives `toDateInZone`: "UTC" for "", "UTC",
    "Local" (Loki runs in UTC) and for names Go fails to load (Loki then uses UTC), the name
    itself when it is in `ZONES`, None when Go loads a zone SQL cannot follow exactly."""
    if name in ZONES:
        return name
    if (
        name in OTHER_ZONES
        or name.startswith(("posix/", "right/"))
        or name in ("posixrules", "localtime")
    ):
        return None
    return "UTC"
