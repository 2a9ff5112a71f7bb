package demo

// The word lists below are immutable tables. Every person, street and number
// built from them is fictitious; any likeness to a real person is chance.

// firstNames and lastNames mix the customers' countries and include the
// spellings that break naive code: diacritics, apostrophes, hyphens and
// non-Latin-1 letters. Every name has at least three characters, so that a
// full name has at least seven.
var firstNames = []string{
	"Anna", "Lukas", "Sophie", "Maximilian", "Lea", "Jonas", "Marie", "Felix", "Hannah", "Leon",
	"Emilia", "Paul", "Mia", "Finn", "Clara", "Elias", "Jürgen", "Sören", "Grete", "Björn",
	"Ute", "Heike", "Torsten", "Anke", "Dörte", "Jörg", "Käthe", "Günther", "Renée", "Jean-Luc",
	"Amélie", "Chloé", "Hélène", "François", "Léa", "Mathéo", "Inès", "Zoë", "Noël", "Benoît",
	"Oliver", "Charlotte", "Harry", "Amelia", "George", "Isla", "Jack", "Olivia", "Thomas", "Emily",
	"Siobhán", "Seán", "Niamh", "Aoife", "Ciarán", "James", "Mary", "Robert", "Patricia", "Michael",
	"Jennifer", "William", "Linda", "David", "Elizabeth", "Richard", "Barbara", "Joseph", "Susan", "Daniel",
	"Jessica", "Matthew", "Sarah", "Anthony", "Karen", "Mark", "Nancy", "Steven", "Lisa", "DeShawn",
	"José", "María", "Lucía", "Martín", "Hugo", "Álvaro", "Sofía", "Javier", "Inés", "Ramón",
	"Giulia", "Lorenzo", "Francesca", "Matteo", "Chiara", "Niccolò", "Beatrice", "Giovanni", "Alessia", "Davide",
	"Daan", "Sanne", "Bram", "Femke", "Sem", "Lotte", "Thijs", "Fleur", "Joost", "Maaike",
	"Łukasz", "Agnieszka", "Paweł", "Małgorzata", "Krzysztof", "Zofia", "Wojciech", "Katarzyna", "Jakub", "Żaneta",
	"Mehmet", "Ayşe", "Emre", "Elif", "Can", "Zeynep", "Yusuf", "Fatma", "Ahmet", "Merve",
	"Wei", "Jun", "Yuki", "Hiroshi", "Priya", "Arjun", "Olamide", "Chidi", "Nikolai", "Svetlana",
	"Fenna", "Reto", "Urs", "Nadine", "Beat", "Vreni", "Seppi", "Resi", "Xaver", "Liesl",
}

var lastNames = []string{
	"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
	"Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
	"Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Schmid",
	"von Bülow", "zu Guttenberg", "Leutheusser-Schnarrenberger", "Özdemir", "Nguyen",
	"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
	"Lefèvre", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Müller-Lüdenscheidt", "de la Croix",
	"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
	"O'Brien", "O'Connor", "McCarthy", "MacDonald", "Fitzgerald", "Ó Súilleabháin", "Murphy", "Kelly", "Walsh", "Byrne",
	"Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Anderson", "Jackson",
	"García López", "Fernández", "Sánchez", "Pérez", "Gómez", "Jiménez", "Ruiz", "Díaz", "Muñoz", "Álvarez",
	"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "D'Angelo",
	"de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer",
	"Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński", "Szymański", "Woźniak",
	"Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Aydın", "Öztürk", "Arslan", "Doğan",
	"Huber", "Gruber", "Pichler", "Moser", "Steiner", "Brunner", "Baumgartner", "Egger", "Amstutz", "Zürcher",
	"Okafor", "Adeyemi", "Tanaka", "Suzuki", "Watanabe", "Chen", "Wang", "Kumar", "Sharma", "Ivanova",
}

// emailDomains are reserved example domains (RFC 2606) and subdomains of
// them, so that no generated address can reach anyone.
var emailDomains = []string{
	"example.com", "example.net", "example.org",
	"mail.example.com", "inbox.example.net", "post.example.org", "web.example.com", "posteo.example.org",
}

// country describes how people in one country are generated.
type country struct {
	code     string
	weight   int    // relative share of customers
	currency string // invoice currency
	company  string // company suffix on billing names
	taxKind  string // tax ID kind in ticket custom fields ("" = none)
	// ibanBBAN describes the country's BBAN: 'n' a digit, 'a' an
	// upper-case letter, 'c' either ("" = no IBAN).
	ibanBBAN string
	streets  []string
	cities   []string
}

var countries = []country{
	{code: "DE", weight: 30, currency: "EUR", company: "GmbH", taxKind: "de_steuer_id", ibanBBAN: "nnnnnnnnnnnnnnnnnn",
		streets: []string{"Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Goethestraße", "Lindenallee", "Am Markt", "Kirchgasse", "Rosenweg", "Bergstraße", "Mühlenweg", "Waldstraße"},
		cities:  []string{"Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Leipzig", "Dresden", "Bremen", "Nürnberg", "Freiburg im Breisgau", "Würzburg", "Lübeck"}},
	{code: "US", weight: 20, currency: "USD", company: "LLC", taxKind: "us_ssn",
		streets: []string{"Maple Street", "Oak Avenue", "Pine Road", "Cedar Lane", "Elm Street", "Washington Boulevard", "Lakeview Drive", "Sunset Avenue", "Hillcrest Road", "Park Place"},
		cities:  []string{"Springfield, IL", "Portland, OR", "Austin, TX", "Columbus, OH", "Madison, WI", "Boulder, CO", "Savannah, GA", "Burlington, VT", "Santa Fe, NM", "Ann Arbor, MI"}},
	{code: "GB", weight: 12, currency: "GBP", company: "Ltd", taxKind: "gb_nino", ibanBBAN: "aaaannnnnnnnnnnnnn",
		streets: []string{"High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane", "Manor Road", "Queens Road", "Kings Avenue", "Mill Lane", "The Crescent"},
		cities:  []string{"London", "Manchester", "Bristol", "Leeds", "York", "Cambridge", "Brighton", "Cardiff", "Edinburgh", "Norwich"}},
	{code: "FR", weight: 10, currency: "EUR", company: "SARL", taxKind: "fr_spi", ibanBBAN: "nnnnnnnnnncccccccccccnn",
		streets: []string{"rue de la Paix", "avenue Victor Hugo", "boulevard Saint-Michel", "rue des Lilas", "place de la République", "rue du Moulin", "chemin des Vignes", "allée des Tilleuls"},
		cities:  []string{"Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Strasbourg", "Bordeaux", "Montpellier", "Rennes", "Lille"}},
	{code: "NL", weight: 6, currency: "EUR", company: "B.V.", ibanBBAN: "aaaannnnnnnnnn",
		streets: []string{"Kerkstraat", "Dorpsstraat", "Molenweg", "Prinsengracht", "Stationsplein", "Julianalaan", "Beatrixstraat", "Nieuwe Gracht"},
		cities:  []string{"Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen", "Haarlem", "Leiden"}},
	{code: "AT", weight: 6, currency: "EUR", company: "GmbH", ibanBBAN: "nnnnnnnnnnnnnnnn",
		streets: []string{"Hauptplatz", "Mariahilfer Straße", "Landstraße", "Kirchengasse", "Linzer Straße", "Grazer Gasse"},
		cities:  []string{"Wien", "Graz", "Linz", "Salzburg", "Innsbruck", "Klagenfurt", "Bregenz"}},
	{code: "CH", weight: 5, currency: "CHF", company: "AG", ibanBBAN: "nnnnncccccccccccc",
		streets: []string{"Bahnhofstrasse", "Dorfstrasse", "Seestrasse", "Kirchweg", "Rue du Rhône", "Via Nassa"},
		cities:  []string{"Zürich", "Genève", "Basel", "Bern", "Lausanne", "Luzern", "Lugano", "St. Gallen"}},
	{code: "ES", weight: 5, currency: "EUR", company: "S.L.", ibanBBAN: "nnnnnnnnnnnnnnnnnnnn",
		streets: []string{"Calle Mayor", "Calle de Alcalá", "Avenida de la Constitución", "Plaza de España", "Calle del Sol", "Paseo de Gracia"},
		cities:  []string{"Madrid", "Barcelona", "Valencia", "Sevilla", "Zaragoza", "Málaga", "Bilbao", "Granada"}},
	{code: "IT", weight: 4, currency: "EUR", company: "S.r.l.", ibanBBAN: "annnnnnnnnncccccccccccc",
		streets: []string{"Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele", "Via Dante", "Piazza del Duomo", "Via Verdi"},
		cities:  []string{"Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze", "Venezia", "Palermo"}},
	{code: "PL", weight: 2, currency: "PLN", company: "sp. z o.o.", ibanBBAN: "nnnnnnnnnnnnnnnnnnnnnnnn",
		streets: []string{"ul. Marszałkowska", "ul. Długa", "ul. Kościuszki", "ul. Mickiewicza", "ul. Piłsudskiego", "ul. Słowackiego"},
		cities:  []string{"Warszawa", "Kraków", "Łódź", "Wrocław", "Poznań", "Gdańsk", "Szczecin", "Lublin"}},
}

// userAgents are the browsers and apps customers log in with.
var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 15_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.0 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:143.0) Gecko/20100101 Firefox/143.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 19_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.0 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 16; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 15; SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36 Edg/141.0.0.0",
	"NimbusApp/7.4.2 (iOS 19.0; iPhone16,2)",
	"NimbusApp/7.4.1 (Android 16; Pixel 9)",
	"curl/8.14.1",
	"python-requests/2.32.5",
}

// Product vocabulary: coined series names and model codes, so that no
// product text shares a six-byte fragment with prose or personal values (a
// test checks this).
var (
	productSeries = []string{"Zephyr", "Quasar", "Vortex", "Krypton", "Xenon", "Zircon", "Quantix", "Pulsar", "Obsidian", "Tundra"}
	productKinds  = []struct{ code, category string }{
		{"SX", "sms"}, {"VX", "voice"}, {"HX", "helpdesk"}, {"NX", "telephony"}, {"AX", "addon"}, {"BX", "storage"},
	}
	productSizes = []string{"100", "500", "1k", "5k", "10k", "M", "Y", "T"}
)
